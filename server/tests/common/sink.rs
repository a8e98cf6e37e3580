//! A real HTTP receiver on loopback for notification channels: it records every request
//! (path, headers, body, when) and can be told to fail on a path.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Path → how many more requests answer 500 (u32::MAX: all of them).
    failing: HashMap<String, u32>,
    /// Path → how long to wait before answering.
    slow: HashMap<String, Duration>,
}

#[derive(Clone)]
pub struct Sink {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Sink {
    /// Listens on 127.0.0.1 on a free port.
    pub async fn start() -> Sink {
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = shared.clone();
            async move {
                let path = uri.path().to_owned();
                let (fail, delay) = {
                    let mut s = state.lock().unwrap();
                    let fail = match s.failing.get_mut(&path) {
                        Some(n) if *n > 0 => {
                            if *n != u32::MAX {
                                *n -= 1;
                            }
                            true
                        }
                        _ => false,
                    };
                    (fail, s.slow.get(&path).copied())
                };
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                if fail {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "sink told to fail");
                }
                state.lock().unwrap().received.push(Received {
                    path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    at: Instant::now(),
                });
                (StatusCode::OK, "{\"ok\":true}")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Sink { url, state }
    }

    /// The next `n` requests to `path` answer 500 (`u32::MAX`: until told otherwise).
    pub fn fail(&self, path: &str, n: u32) {
        self.state
            .lock()
            .unwrap()
            .failing
            .insert(path.to_owned(), n);
    }

    /// Requests to `path` are answered after `delay`.
    pub fn slow(&self, path: &str, delay: Duration) {
        self.state
            .lock()
            .unwrap()
            .slow
            .insert(path.to_owned(), delay);
    }

    /// What `path` received (and answered 200 to), oldest first.
    pub fn received(&self, path: &str) -> Vec<Received> {
        self.state
            .lock()
            .unwrap()
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` has received `n` requests; they, oldest first.
    pub async fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{path} received {} of {n} requests within {timeout:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
