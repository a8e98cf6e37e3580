//! Server-sent events for the pages (in the browser only).
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// Calls `handler` with the data of every `event` on `/api/v1/events` while the calling
/// component lives; the stream closes with it.
pub fn on_event(event: &str, handler: impl Fn(String) + 'static) {
    let Ok(source) = web_sys::EventSource::new("/api/v1/events") else {
        return;
    };
    let callback =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |message: web_sys::MessageEvent| {
            if let Some(text) = message.data().as_string() {
                handler(text);
            }
        });
    let _ = source.add_event_listener_with_callback(event, callback.as_ref().unchecked_ref());
    let held = SendWrapper::new((source, callback));
    on_cleanup(move || {
        let (source, _callback) = held.take();
        source.close();
    });
}

/// Calls `tick` every `period` while the calling component lives.
pub fn every(period: std::time::Duration, tick: impl Fn() + 'static) {
    if let Ok(handle) = set_interval_with_handle(tick, period) {
        on_cleanup(move || handle.clear());
    }
}
