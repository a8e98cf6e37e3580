//! Server-sent events for the pages. One `EventSource` per page, shared by every component
//! that listens, so a page never holds more than one stream (browsers allow six connections
//! per server over HTTP/1.1). The stream exists in the browser only; `names_agent` is built
//! everywhere (and tested natively).
#[cfg(feature = "hydrate")]
use std::cell::RefCell;

#[cfg(feature = "hydrate")]
use leptos::prelude::*;
#[cfg(feature = "hydrate")]
use send_wrapper::SendWrapper;
#[cfg(feature = "hydrate")]
use wasm_bindgen::JsCast;
#[cfg(feature = "hydrate")]
use wasm_bindgen::closure::Closure;

#[cfg(feature = "hydrate")]
thread_local! {
    /// The page's stream and how many listeners hold it.
    static SOURCE: RefCell<Option<(web_sys::EventSource, usize)>> = const { RefCell::new(None) };
}

#[cfg(feature = "hydrate")]
fn acquire() -> Option<web_sys::EventSource> {
    SOURCE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if let Some((source, users)) = slot.as_mut() {
            *users += 1;
            return Some(source.clone());
        }
        let source = web_sys::EventSource::new("/api/v1/events").ok()?;
        *slot = Some((source.clone(), 1));
        Some(source)
    })
}

#[cfg(feature = "hydrate")]
fn release() {
    SOURCE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if let Some((source, users)) = slot.as_mut() {
            *users -= 1;
            if *users == 0 {
                source.close();
                *slot = None;
            }
        }
    });
}

/// Calls `handler` with the data of every `event` on `/api/v1/events` while the calling
/// component lives.
#[cfg(feature = "hydrate")]
pub fn on_event(event: &str, handler: impl Fn(String) + 'static) {
    let Some(source) = acquire() else {
        return;
    };
    let callback =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |message: web_sys::MessageEvent| {
            if let Some(text) = message.data().as_string() {
                handler(text);
            }
        });
    let _ = source.add_event_listener_with_callback(event, callback.as_ref().unchecked_ref());
    let held = SendWrapper::new((source, callback, event.to_owned()));
    on_cleanup(move || {
        let (source, callback, event) = held.take();
        let _ =
            source.remove_event_listener_with_callback(&event, callback.as_ref().unchecked_ref());
        release();
    });
}

/// Whether the data of an SSE `host_sample`, `agent_status` or `container_event` is about
/// agent `id`: each names its agent first (`{"agent_id":"…",…}`), so a page that follows one
/// host skips the others' samples without parsing them (a thousand hosts send a hundred a
/// second).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub fn names_agent(text: &str, id: &str) -> bool {
    text.strip_prefix("{\"agent_id\":\"")
        .and_then(|rest| rest.strip_prefix(id))
        .is_some_and(|rest| rest.starts_with('"'))
}

/// Calls `tick` every `period` while the calling component lives.
#[cfg(feature = "hydrate")]
pub fn every(period: std::time::Duration, tick: impl Fn() + 'static) {
    if let Ok(handle) = set_interval_with_handle(tick, period) {
        on_cleanup(move || handle.clear());
    }
}

#[cfg(test)]
mod tests {
    use super::names_agent;

    #[test]
    fn a_sample_is_told_apart_by_its_agent_without_parsing() {
        let summary = crate::HostSummary {
            agent_id: "0f3c".into(),
            label: "web".into(),
            hostname: "web".into(),
            connection_state: crate::ConnectionState::Connected,
            running_containers: 0,
            latest: None,
        };
        let text = serde_json::to_string(&summary).unwrap();
        assert!(names_agent(&text, "0f3c"), "{text}");
        assert!(
            !names_agent(&text, "0f3"),
            "a prefix of the id is another agent"
        );
        assert!(!names_agent(&text, "local"));
        assert!(!names_agent("{\"label\":\"0f3c\"}", "0f3c"));
    }
}
