//! Vantage's pages and components, and the types shared by the UI, the REST API and the server.
#![forbid(unsafe_code)]

// Server and browser must render the same hydration markers, so both erase component types.
#[cfg(not(erase_components))]
compile_error!(
    "build with `--cfg erase_components`: .cargo/config.toml sets it, and a RUSTFLAGS variable \
     replaces that setting, so add the flag to RUSTFLAGS too"
);

pub mod alerts;
pub mod apps;
#[cfg(feature = "ssr")]
pub mod backend;
mod error;
mod states;
pub mod text;
mod types;
pub mod ui;
pub mod users;

pub use error::{ApiError, ErrorBody, Field, TokenKind};
pub use states::{
    AgentStatus, AlertEventKind, AlertState, BuildState, ChannelKind, ContainerFigure,
    ContainerHealth, ContainerState, DeliveryState, HostFigure, Role, Runtime, Severity,
    TokenState,
};
pub use types::*;
pub use ui::{App, shell};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "vantage_session";
