//! The dashboard's WASM entry: hydrates the server-rendered pages, once the code of the
//! page shown (a chunk of its own, `app::App`) has loaded.
#![forbid(unsafe_code)]

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
