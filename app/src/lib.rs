//! Vantage's pages and components, and the types shared by the UI, the REST API and the server.
#![forbid(unsafe_code)]

pub mod alerts;
#[cfg(feature = "ssr")]
pub mod backend;
mod error;
mod states;
pub mod text;
mod types;
pub mod ui;

pub use error::{ApiError, ErrorBody, Field, TokenKind};
pub use states::{
    AgentStatus, AlertEventKind, AlertState, BuildState, ChannelKind, ContainerFigure,
    ContainerHealth, ContainerState, DeliveryState, HostFigure, Runtime, Severity, TokenState,
};
pub use types::*;
pub use ui::{App, shell};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "vantage_session";
