{{image_load}} && \
docker run -d --name vantage-agent --restart unless-stopped \
  --pid host --network host \
  -v /proc:/host/proc:ro -v /:/host/root:ro \
  -v /var/run/docker.sock:/var/run/docker.sock:ro \
  -v vantage-agent-state:/var/lib/vantage-agent \
  -e VANTAGE_SERVER={{grpc_url}} \
  -e VANTAGE_ENROLLMENT_TOKEN={{token}} \
  -e VANTAGE_SERVER_PIN={{pin}} \
  -e VANTAGE_PROC_ROOT=/host/proc -e VANTAGE_HOST_ROOT=/host/root \
  {{image}}