//! Server-sent events for the pages (in the browser only). One `EventSource` per page,
//! shared by every component that listens, so a page never holds more than one stream
//! (browsers allow six connections per server over HTTP/1.1).
use std::cell::RefCell;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

thread_local! {
    /// The page's stream and how many listeners hold it.
    static SOURCE: RefCell<Option<(web_sys::EventSource, usize)>> = const { RefCell::new(None) };
}

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

/// Calls `tick` every `period` while the calling component lives.
pub fn every(period: std::time::Duration, tick: impl Fn() + 'static) {
    if let Ok(handle) = set_interval_with_handle(tick, period) {
        on_cleanup(move || handle.clear());
    }
}
