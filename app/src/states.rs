//! The states the UI, REST and store share, as enums: compared by variant, never by text.
//! Each is written in snake_case on the wire and in the store, as before.
use serde::{Deserialize, Serialize};

/// An enum whose variants each have one snake_case name, with `as_str` and a parse that
/// says what it expected.
macro_rules! named_states {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire and store name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        /// In OpenAPI: a string, one of the wire names.
        #[cfg(feature = "ssr")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .build()
                    .into()
            }
        }

        #[cfg(feature = "ssr")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        format!("unknown {} {s:?}; expected one of {}", stringify!($name), names.join(", "))
                    })
            }
        }
    };
}

named_states! {
    /// What a user (or one of their API tokens) may do. Each role can do what the ones
    /// before it can.
    Role {
        /// Reads everything, writes nothing.
        Viewer = "viewer",
        /// Also tracks and restarts apps, acknowledges alerts, edits rules and silences.
        Operator = "operator",
        /// Also manages users, agents, enrollment tokens and notification channels.
        Admin = "admin",
    }
}

impl Role {
    /// True when this role can do what `needed` can.
    pub fn allows(self, needed: Role) -> bool {
        let rank = |r: Role| Role::ALL.iter().position(|v| *v == r);
        rank(self) >= rank(needed)
    }

    /// The narrower of two roles (a token's and its user's).
    pub fn narrowest(self, other: Role) -> Role {
        if self.allows(other) { other } else { self }
    }
}

named_states! {
    /// Whether an agent may stream.
    AgentStatus {
        /// Enrolled and allowed to connect.
        Active = "active",
        /// Refused at connect; its history stays until deleted.
        Revoked = "revoked",
    }
}

named_states! {
    /// Where an agent runs, as it reports at enrollment (the empty report means `bare`).
    Runtime {
        Docker = "docker",
        Swarm = "swarm",
        Kubernetes = "kubernetes",
        Systemd = "systemd",
        Bare = "bare",
    }
}

named_states! {
    /// Whether an enrollment token can still enroll an agent.
    TokenState {
        Active = "active",
        Used = "used",
        Expired = "expired",
    }
}

named_states! {
    /// Whether an agent download is there to serve.
    BuildState {
        Ready = "ready",
        Building = "building",
        Missing = "missing",
    }
}

named_states! {
    /// Docker's container state.
    ContainerState {
        Created = "created",
        Running = "running",
        Paused = "paused",
        Restarting = "restarting",
        Removing = "removing",
        Exited = "exited",
        Dead = "dead",
        /// A state this version does not know (a newer engine's).
        Unknown = "unknown",
    }
}

named_states! {
    /// A container's health check result.
    ContainerHealth {
        Healthy = "healthy",
        Unhealthy = "unhealthy",
        Starting = "starting",
        /// No health check configured.
        None = "",
    }
}

impl ContainerState {
    /// Docker's text, with states this version does not know as `Unknown`.
    pub fn from_docker(text: &str) -> Self {
        text.parse().unwrap_or(ContainerState::Unknown)
    }
}

impl ContainerHealth {
    /// Docker's text; anything unknown counts as no health check.
    pub fn from_docker(text: &str) -> Self {
        text.parse().unwrap_or(ContainerHealth::None)
    }
}

impl Runtime {
    /// The runtime an agent reported; empty means `bare`.
    pub fn from_report(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            Ok(Runtime::Bare)
        } else {
            text.parse()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_on_the_wire_and_in_text() {
        for s in ContainerState::ALL {
            assert_eq!(s.as_str().parse::<ContainerState>().unwrap(), *s);
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("{:?}", s.as_str()));
        }
        assert_eq!(
            serde_json::to_string(&ContainerHealth::None).unwrap(),
            "\"\""
        );
        assert_eq!(
            ContainerState::from_docker("frozen"),
            ContainerState::Unknown
        );
        assert_eq!(Runtime::from_report("").unwrap(), Runtime::Bare);
        let err = Runtime::from_report("vm").unwrap_err();
        assert!(
            err.contains("docker, swarm, kubernetes, systemd, bare"),
            "{err}"
        );
    }
}

named_states! {
    /// How urgent an alert is.
    Severity {
        Warning = "warning",
        Critical = "critical",
    }
}

named_states! {
    /// Where an alert stands: breaching but not yet for long enough, firing, or over.
    AlertState {
        Pending = "pending",
        Firing = "firing",
        Resolved = "resolved",
    }
}

named_states! {
    /// A host figure a threshold rule watches.
    HostFigure {
        /// CPU busy, percent of all cores.
        Cpu = "cpu",
        /// Memory in use, percent.
        Memory = "memory",
        /// Swap in use, percent.
        Swap = "swap",
        /// File system in use, percent (one mount, or the fullest).
        Disk = "disk",
        /// One-minute load average per core.
        Load = "load",
        /// Received bytes per second, all interfaces.
        NetRx = "net_rx",
        /// Sent bytes per second, all interfaces.
        NetTx = "net_tx",
    }
}

named_states! {
    /// A container figure a threshold rule watches.
    ContainerFigure {
        /// CPU, percent of one core (100 per core).
        Cpu = "cpu",
        /// Memory in use, percent of the container's limit (of the host's memory without one).
        Memory = "memory",
    }
}

named_states! {
    /// Where a notification channel delivers.
    ChannelKind {
        Slack = "slack",
        Discord = "discord",
        /// A JSON POST signed with HMAC-SHA256.
        Webhook = "webhook",
        Email = "email",
        Ntfy = "ntfy",
        Telegram = "telegram",
        Pagerduty = "pagerduty",
    }
}

named_states! {
    /// Where one notification stands.
    DeliveryState {
        /// Not sent yet, or waiting for its next attempt.
        Pending = "pending",
        Sent = "sent",
        /// Given up after an hour of attempts.
        Failed = "failed",
    }
}

named_states! {
    /// What an alert's timeline entry records.
    AlertEventKind {
        /// A breaching evaluation before the alert fires ("2 of 3").
        Pending = "pending",
        Firing = "firing",
        /// A notification reached (or failed to reach) a channel.
        Notified = "notified",
        NotifyFailed = "notify_failed",
        /// A reminder while it keeps firing.
        Reminder = "reminder",
        /// A silence held its notifications back.
        Silenced = "silenced",
        Acknowledged = "acknowledged",
        /// A good evaluation while firing ("1 of 2").
        Recovering = "recovering",
        Resolved = "resolved",
    }
}

named_states! {
    /// How an app is watched and restarted.
    AppType {
        /// A systemd unit: `systemctl restart <unit>`.
        Systemd = "systemd",
        /// A Docker container: `docker restart <name>`.
        Docker = "docker",
        /// A Compose service: `docker compose -p <project> restart <service>`.
        Compose = "compose",
        /// An executable: the configured restart command.
        Process = "process",
    }
}

named_states! {
    /// What should be true of an app.
    ExpectedState {
        Running = "running",
        Stopped = "stopped",
    }
}

named_states! {
    /// What the host's newest inventory shows of an app.
    ObservedState {
        Running = "running",
        Stopped = "stopped",
        /// No inventory yet, the host is offline, or the part of the inventory that would
        /// show it could not be read.
        Unknown = "unknown",
    }
}

named_states! {
    /// Where a restart is.
    ActionState {
        /// Signed, waiting for the agent's stream (until it expires).
        Pending = "pending",
        /// On the agent's stream; its result not yet back.
        Sent = "sent",
        /// Ran and exited 0.
        Succeeded = "succeeded",
        /// Ran and failed (exit code, timeout).
        Failed = "failed",
        /// The agent refused it (signature, expiry, replay, log, allow-list, budget); nothing ran.
        Refused = "refused",
        /// Never delivered before its expiry.
        Expired = "expired",
        /// Its requester was disabled before it was delivered.
        Cancelled = "cancelled",
    }
}
