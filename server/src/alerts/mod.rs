//! Alerting's parts that hold no rule of the product: the evaluation engine (pure state
//! machines), the notification channels and their wire formats, the outbound address policy,
//! silences' time windows. `service::alerts` owns what happens when (what fires, what is
//! stored, who is told).
pub mod channels;
pub mod engine;
pub mod outbound;
pub mod preview;
pub mod silences;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use crate::seal::SealKey;

/// How alerting is set up (from the flags).
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// The absence sweep's period.
    pub sweep: Duration,
    /// Samples older than this when they arrive are history (a backfill), not news: they
    /// never fire, resolve or notify.
    pub live_window: Duration,
    pub policy: outbound::OutboundPolicy,
    /// How long one send may take.
    pub send_timeout: Duration,
    /// The dashboard's public address, for links in messages.
    pub base_url: Option<String>,
}

/// Alerting's live state: the engine, the open alerts' ids, the queues' wake-ups, the sealing
/// key. Owned by the service; its rules are in `service::alerts`.
pub struct Alerting {
    pub settings: AlertSettings,
    pub engine: Mutex<engine::Engine>,
    /// Stored ids of the alerts firing now, by tracker.
    pub open: Mutex<HashMap<engine::Key, i64>>,
    pub transitions: mpsc::UnboundedSender<engine::Transition>,
    pub key: std::sync::Arc<SealKey>,
    pub sender: channels::Sender,
    /// Wakes each channel's queue (started on demand).
    pub queues: Mutex<HashMap<i64, std::sync::Arc<Notify>>>,
    pub silences: Mutex<Vec<silences::ActiveRule>>,
    /// Each agent's tags, for rules scoped by tag (refreshed by every sweep and edit).
    pub tags: Mutex<HashMap<String, Vec<String>>>,
    /// When this server started (ms): an agent is silent at most since then.
    pub started_ms: i64,
}

impl Alerting {
    /// Alerting with no rules yet, and the receiving end of its transitions.
    pub fn new(
        settings: AlertSettings,
        key: std::sync::Arc<SealKey>,
    ) -> (Self, mpsc::UnboundedReceiver<engine::Transition>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let sender = channels::Sender::new(settings.policy, settings.send_timeout);
        (
            Self {
                settings,
                engine: Mutex::default(),
                open: Mutex::default(),
                transitions: tx,
                key,
                sender,
                queues: Mutex::default(),
                silences: Mutex::default(),
                tags: Mutex::default(),
                started_ms: proto::clock::now_ms(),
            },
            rx,
        )
    }

    /// Hands transitions to the recorder.
    pub fn emit(&self, transitions: Vec<engine::Transition>) {
        for t in transitions {
            // The recorder lives as long as the server; a send fails only at shutdown.
            let _ = self.transitions.send(t);
        }
    }
}
