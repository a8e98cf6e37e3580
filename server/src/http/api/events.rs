//! `/api/v1`: The live event stream (server-sent events).
use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use crate::http::AppState;
use crate::http::extract::Authenticated;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

/// Server-sent events: the current figures at once, then every change.
/// The stream ends at shutdown and as soon as the credential that opened it is revoked.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    summary = "Live events (server-sent events): the current figures, then every change.",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "`text/event-stream`: events `host_sample`, `agent_status`, `container_event`, …", content_type = "text/event-stream", body = String),
        (status = 401, description = "No valid session or API token.", body = app::ErrorBody),
        (status = "4XX", description = "The request was refused; `code` says why.", body = app::ErrorBody)
    )
)]
async fn events(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let crate::service::LiveFeed {
        subscription,
        first,
        updates,
    } = state.vantage.live_events(auth.stream_keys);
    let ended = subscription.ended.clone();
    let updates = BroadcastStream::new(updates).filter_map(|e| async move { e.ok() });
    let stream = futures::stream::iter([first])
        .chain(updates)
        .map(move |e| {
            // Held by the stream: dropping the stream forgets the subscription.
            let _ = &subscription;
            Ok(Event::default().event(e.name).data(&e.data))
        })
        .take_until(state.shutdown.cancelled_owned())
        .take_until(ended.cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
