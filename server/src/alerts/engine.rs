//! The alert state machines: rules × live observations → transitions. Pure and in memory
//! (no I/O, no clock of its own), so every rule of hysteresis is tested on plain values.
//!
//! Each (rule, host, subject) has a tracker. A breaching evaluation opens it (pending) and
//! counts; when the rule's `for` is met it fires. While firing, good evaluations count and
//! `recover_for` of them in a row resolve it; anything else resets that count. A good
//! evaluation before it fired cancels the pending tracker. Values between `clear_below` and
//! `above` are neither: they cancel a pending tracker and hold a firing one.
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use agent::collect::HostSample;
use app::alerts::{AlertRuleSpec, Condition, Hold, glob_matches};
use app::{ContainerFigure, ContainerHealth, ContainerState, HostFigure};

/// A rule as the engine holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: i64,
    pub spec: AlertRuleSpec,
}

/// The host an observation is about.
#[derive(Debug, Clone, Copy)]
pub struct Host<'a> {
    pub agent_id: &'a str,
    pub label: &'a str,
    pub tags: &'a [String],
}

/// A container as the newest list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerObs {
    pub name: String,
    pub state: ContainerState,
    pub health: ContainerHealth,
}

/// A container's newest figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStats {
    pub name: String,
    pub cpu_pct: f64,
    /// Percent of its limit, or of the host's memory without one.
    pub memory_pct: f64,
}

/// A certificate's newest scan.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificateObs {
    pub target: String,
    pub days_left: Option<i64>,
    pub valid: bool,
    pub error: String,
}

/// A tracked app as the liveness pass saw it.
#[derive(Debug, Clone)]
pub struct AppObs {
    pub app_id: i64,
    pub name: String,
    /// The mismatch counts (three checks, or four when unknown).
    pub mismatch: bool,
    pub expected: String,
    pub observed: String,
    /// The agent refused its latest restart within the hour: the remediation budget is spent.
    pub budget_spent: bool,
}

/// What was observed about one host.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Sample(&'a HostSample),
    Containers(&'a [ContainerObs]),
    ContainerStats(&'a [ContainerStats]),
    /// A container (re)started at this time.
    ContainerStarted {
        name: &'a str,
        at_ms: i64,
    },
    Certificates(&'a [CertificateObs]),
    /// The host's tracked apps, after a liveness pass.
    Apps(&'a [AppObs]),
    /// How long the agent has been silent (0: it just spoke).
    Presence {
        silent_ms: i64,
    },
}

/// Which tracker: a rule, a host (`None` for the fleet) and what on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub rule_id: i64,
    pub agent_id: Option<String>,
    pub subject: String,
}

/// The subject of a fleet-wide alert.
pub const FLEET: &str = "fleet";

/// What changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The rule's `for` is met. `steps` are the pending evaluations that led here.
    Fired {
        summary: String,
        value: Option<f64>,
        steps: Vec<(i64, String)>,
    },
    /// A good evaluation while firing, short of `recover_for`.
    Recovering { text: String },
    Resolved {
        text: String,
        /// A fleet-wide alert: every agent it spoke for (for the backfill tally).
        agents: Vec<String>,
    },
}

/// One state change, for the recorder to store and notify.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub key: Key,
    pub rule: Arc<Rule>,
    pub host_label: String,
    pub at_ms: i64,
    pub change: Change,
}

/// How one evaluation came out.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Breach {
        value: Option<f64>,
        text: String,
    },
    Good {
        text: String,
    },
    /// Between the clear threshold and the firing one.
    Between,
}

#[derive(Debug, Clone)]
struct Tracker {
    firing: bool,
    breaches: u32,
    first_breach_ms: i64,
    goods: u32,
    steps: Vec<(i64, String)>,
    host_label: String,
    /// Firing as part of a fleet-wide alert, which speaks for it.
    in_fleet: bool,
    /// Fleet alerts: the agents it speaks for that are still down.
    members: BTreeSet<String>,
    /// Fleet alerts: every agent it spoke for, back or not.
    ever: BTreeSet<String>,
}

impl Tracker {
    fn new(now_ms: i64, host_label: &str) -> Self {
        Self {
            firing: false,
            breaches: 0,
            first_breach_ms: now_ms,
            goods: 0,
            steps: Vec::new(),
            host_label: host_label.to_owned(),
            in_fleet: false,
            members: BTreeSet::new(),
            ever: BTreeSet::new(),
        }
    }
}

/// At most this many pending steps are kept for an alert's timeline (the first and the
/// newest ones).
const STEPS_KEPT: usize = 20;
/// A fleet-wide agent-down alert needs at least this many agents down in one sweep.
const FLEET_MIN_AGENTS: usize = 5;

/// Every rule's trackers.
#[derive(Debug, Default)]
pub struct Engine {
    rules: Vec<Arc<Rule>>,
    trackers: HashMap<Key, Tracker>,
    /// Start times per (agent, container), for `container_restarting`.
    starts: HashMap<(String, String), VecDeque<i64>>,
}

impl Engine {
    /// Replaces the rule set. Trackers of rules gone, or whose condition or scope changed,
    /// are dropped; a firing one among them is returned resolved.
    pub fn set_rules(&mut self, rules: Vec<Rule>, now_ms: i64) -> Vec<Transition> {
        let rules: Vec<Arc<Rule>> = rules.into_iter().map(Arc::new).collect();
        let mut ended = Vec::new();
        self.trackers.retain(|key, tracker| {
            let old = self.rules.iter().find(|r| r.id == key.rule_id);
            let new = rules.iter().find(|r| r.id == key.rule_id);
            let keep = match (old, new) {
                (Some(old), Some(new)) => {
                    new.spec.enabled
                        && old.spec.condition == new.spec.condition
                        && old.spec.scope == new.spec.scope
                }
                _ => false,
            };
            if !keep
                && tracker.firing
                && !tracker.in_fleet
                && let Some(rule) = old.or(new)
            {
                ended.push(Transition {
                    key: key.clone(),
                    rule: rule.clone(),
                    host_label: tracker.host_label.clone(),
                    at_ms: now_ms,
                    change: Change::Resolved {
                        text: "the rule was changed, disabled or deleted".into(),
                        agents: Vec::new(),
                    },
                });
            }
            keep
        });
        self.rules = rules;
        ended
    }

    /// Marks a stored firing alert as firing again (after a server start), so it resolves
    /// once and never fires twice. Fleet alerts come back without members and resolve at the
    /// next sweep that finds the agents back.
    pub fn restore_firing(&mut self, key: Key, host_label: &str, started_ms: i64) {
        let mut tracker = Tracker::new(started_ms, host_label);
        tracker.firing = true;
        self.trackers.insert(key, tracker);
    }

    /// Rules by id with their firing and pending counts.
    pub fn counts(&self) -> HashMap<i64, (u32, u32)> {
        let mut counts: HashMap<i64, (u32, u32)> = HashMap::new();
        for (key, tracker) in &self.trackers {
            let entry = counts.entry(key.rule_id).or_default();
            if tracker.firing {
                if !tracker.in_fleet {
                    entry.0 += 1;
                }
            } else {
                entry.1 += 1;
            }
        }
        counts
    }

    /// Evaluates every rule that watches this kind of input on this host.
    pub fn observe(&mut self, host: Host<'_>, input: Input<'_>, now_ms: i64) -> Vec<Transition> {
        if let Input::ContainerStarted { name, at_ms } = input {
            let starts = self
                .starts
                .entry((host.agent_id.to_owned(), name.to_owned()))
                .or_default();
            starts.push_back(at_ms);
            while starts.len() > 1_000 {
                starts.pop_front();
            }
        }
        let mut out = Vec::new();
        for rule in self.rules.clone() {
            if !rule.spec.enabled || !in_scope(&rule.spec, host) {
                continue;
            }
            for (subject, verdict) in self.verdicts(&rule, host, input, now_ms) {
                let key = Key {
                    rule_id: rule.id,
                    agent_id: Some(host.agent_id.to_owned()),
                    subject,
                };
                if let Some(t) = self.step(&rule, key, host.label, verdict, now_ms) {
                    out.push(t);
                }
            }
        }
        out
    }

    /// The absence sweep: how long each agent has been silent. When more than half of the
    /// agents a rule covers (at least five) go down in one sweep, one fleet-wide alert says
    /// so instead of one per agent.
    pub fn sweep(&mut self, hosts: &[(Host<'_>, i64)], now_ms: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        for rule in self.rules.clone() {
            let Condition::AgentDown { silent_s } = rule.spec.condition else {
                continue;
            };
            if !rule.spec.enabled {
                continue;
            }
            let covered: Vec<&(Host<'_>, i64)> = hosts
                .iter()
                .filter(|(h, _)| in_scope(&rule.spec, *h))
                .collect();
            let mut fired = Vec::new();
            for (host, silent_ms) in &covered {
                let input = Input::Presence {
                    silent_ms: *silent_ms,
                };
                for (subject, verdict) in self.verdicts(&rule, *host, input, now_ms) {
                    let key = Key {
                        rule_id: rule.id,
                        agent_id: Some(host.agent_id.to_owned()),
                        subject,
                    };
                    if let Some(t) = self.step(&rule, key, host.label, verdict, now_ms) {
                        match t.change {
                            Change::Fired { .. } => fired.push(t),
                            _ => out.push(t),
                        }
                    }
                }
            }
            let fleet_firing = self
                .trackers
                .get(&Key {
                    rule_id: rule.id,
                    agent_id: None,
                    subject: FLEET.into(),
                })
                .is_some_and(|t| t.firing);
            // Agents that stopped with these but, by the phase of their last report, have not
            // crossed the threshold yet: silent for half of it, not firing. They count
            // towards the outage now and join its alert when they cross.
            let falling: Vec<&str> = if fired.is_empty() || fleet_firing {
                Vec::new()
            } else {
                covered
                    .iter()
                    .filter(|(host, silent_ms)| {
                        *silent_ms * 2 > silent_s as i64 * 1_000
                            && !fired
                                .iter()
                                .any(|t| t.key.agent_id.as_deref() == Some(host.agent_id))
                            && !self.is_firing(rule.id, host.agent_id)
                    })
                    .map(|(host, _)| host.label)
                    .collect()
            };
            let down = fired.len() + falling.len();
            // Agents that stop while a fleet-wide alert fires join it without a message.
            if !fired.is_empty()
                && (fleet_firing || (down >= FLEET_MIN_AGENTS && down * 2 > covered.len()))
            {
                out.extend(self.fleet_down(&rule, fired, &falling, covered.len(), now_ms));
            } else {
                out.extend(fired);
            }
            out.extend(self.fleet_members_back(&rule, now_ms));
        }
        out
    }

    /// Whether this agent's agent-down alert for this rule is firing.
    fn is_firing(&self, rule_id: i64, agent_id: &str) -> bool {
        let key = Key {
            rule_id,
            agent_id: Some(agent_id.to_owned()),
            subject: "host".into(),
        };
        self.trackers.get(&key).is_some_and(|t| t.firing)
    }

    /// Folds the agent-down alerts of one sweep, and the agents `falling` with them, into
    /// one fleet-wide alert.
    fn fleet_down(
        &mut self,
        rule: &Arc<Rule>,
        fired: Vec<Transition>,
        falling: &[&str],
        covered: usize,
        now_ms: i64,
    ) -> Vec<Transition> {
        let fleet_key = Key {
            rule_id: rule.id,
            agent_id: None,
            subject: FLEET.into(),
        };
        let mut labels = Vec::new();
        for t in &fired {
            if let Some(tracker) = self.trackers.get_mut(&t.key) {
                tracker.in_fleet = true;
            }
            labels.push(t.host_label.clone());
        }
        labels.extend(falling.iter().map(|label| (*label).to_owned()));
        let fleet = self
            .trackers
            .entry(fleet_key.clone())
            .or_insert_with(|| Tracker::new(now_ms, "fleet"));
        let newly = !fleet.firing;
        fleet.firing = true;
        fleet
            .members
            .extend(fired.iter().filter_map(|t| t.key.agent_id.clone()));
        fleet
            .ever
            .extend(fired.iter().filter_map(|t| t.key.agent_id.clone()));
        if !newly {
            // Already firing: the new members join it without another message.
            return Vec::new();
        }
        labels.sort();
        let shown: Vec<&str> = labels.iter().take(10).map(String::as_str).collect();
        let more = labels.len().saturating_sub(shown.len());
        let summary = format!(
            "{} of {} agents stopped reporting at once (a network or server-side problem is likely): {}{}",
            labels.len(),
            covered,
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        vec![Transition {
            key: fleet_key,
            rule: rule.clone(),
            host_label: "fleet".into(),
            at_ms: now_ms,
            change: Change::Fired {
                summary,
                value: Some(labels.len() as f64),
                steps: Vec::new(),
            },
        }]
    }

    /// Resolves a fleet-wide alert once every agent it spoke for is back.
    fn fleet_members_back(&mut self, rule: &Arc<Rule>, now_ms: i64) -> Vec<Transition> {
        let fleet_key = Key {
            rule_id: rule.id,
            agent_id: None,
            subject: FLEET.into(),
        };
        let Some(fleet) = self.trackers.get(&fleet_key) else {
            return Vec::new();
        };
        let still_down: BTreeSet<String> = fleet
            .members
            .iter()
            .filter(|agent| self.is_firing(rule.id, agent))
            .cloned()
            .collect();
        if !still_down.is_empty() {
            if let Some(fleet) = self.trackers.get_mut(&fleet_key) {
                fleet.members = still_down;
            }
            return Vec::new();
        }
        let agents = self
            .trackers
            .remove(&fleet_key)
            .map(|t| t.ever.into_iter().collect())
            .unwrap_or_default();
        vec![Transition {
            key: fleet_key,
            rule: rule.clone(),
            host_label: "fleet".into(),
            at_ms: now_ms,
            change: Change::Resolved {
                text: "every agent is reporting again".into(),
                agents,
            },
        }]
    }

    /// The hysteresis step of one tracker.
    fn step(
        &mut self,
        rule: &Arc<Rule>,
        key: Key,
        host_label: &str,
        verdict: Verdict,
        now_ms: i64,
    ) -> Option<Transition> {
        let spec = &rule.spec;
        // An agent that speaks again is back at once: one good answer is enough.
        let recover_for = match spec.condition {
            // The liveness pass counted the checks already: one match resolves.
            Condition::AgentDown { .. } | Condition::AppMismatch => 1,
            _ => spec.recover_for.max(1),
        };
        let transition = |key: Key, label: String, change: Change| Transition {
            key,
            rule: rule.clone(),
            host_label: label,
            at_ms: now_ms,
            change,
        };
        match verdict {
            Verdict::Breach { value, text } => {
                let tracker = self
                    .trackers
                    .entry(key.clone())
                    .or_insert_with(|| Tracker::new(now_ms, host_label));
                tracker.host_label = host_label.to_owned();
                if tracker.firing {
                    tracker.goods = 0;
                    return None;
                }
                tracker.breaches += 1;
                let (met, of) = match spec.hold {
                    // The liveness pass's three (or four) checks are the hold.
                    _ if matches!(spec.condition, Condition::AppMismatch) => (true, None),
                    Hold::Evaluations(n) => (tracker.breaches >= n, Some(n)),
                    Hold::Seconds(s) => {
                        (now_ms - tracker.first_breach_ms >= s as i64 * 1_000, None)
                    }
                };
                let step = match of {
                    Some(n) => format!("{} of {n} breaching evaluations: {text}", tracker.breaches),
                    None => format!(
                        "breaching for {} of {}: {text}",
                        human_duration_ms(now_ms - tracker.first_breach_ms),
                        human_duration_ms(hold_ms(spec.hold))
                    ),
                };
                if tracker.steps.len() >= STEPS_KEPT {
                    tracker.steps.remove(STEPS_KEPT / 2);
                }
                tracker.steps.push((now_ms, step));
                if !met {
                    return None;
                }
                tracker.firing = true;
                let steps = std::mem::take(&mut tracker.steps);
                let label = tracker.host_label.clone();
                Some(transition(
                    key,
                    label,
                    Change::Fired {
                        summary: text,
                        value,
                        steps,
                    },
                ))
            }
            Verdict::Good { text } => {
                let tracker = self.trackers.get_mut(&key)?;
                if !tracker.firing {
                    self.trackers.remove(&key);
                    return None;
                }
                tracker.goods += 1;
                let label = tracker.host_label.clone();
                if tracker.goods < recover_for {
                    if tracker.in_fleet {
                        return None;
                    }
                    let text = format!(
                        "{} of {recover_for} good evaluations: {text}",
                        tracker.goods
                    );
                    return Some(transition(key, label, Change::Recovering { text }));
                }
                let in_fleet = tracker.in_fleet;
                let goods = tracker.goods;
                self.trackers.remove(&key);
                if in_fleet {
                    // The fleet alert speaks for it; it resolves when all are back.
                    return None;
                }
                let text = if matches!(spec.condition, Condition::AgentDown { .. }) {
                    text
                } else {
                    format!(
                        "{goods} good evaluation{} in a row: {text}",
                        if goods == 1 { "" } else { "s" }
                    )
                };
                Some(transition(
                    key,
                    label,
                    Change::Resolved {
                        text,
                        agents: Vec::new(),
                    },
                ))
            }
            Verdict::Between => {
                let tracker = self.trackers.get_mut(&key)?;
                if tracker.firing {
                    tracker.goods = 0;
                } else {
                    self.trackers.remove(&key);
                }
                None
            }
        }
    }

    /// Each subject's verdict under one rule, for the inputs that rule watches.
    fn verdicts(
        &mut self,
        rule: &Rule,
        host: Host<'_>,
        input: Input<'_>,
        now_ms: i64,
    ) -> Vec<(String, Verdict)> {
        let spec = &rule.spec;
        let glob = spec.scope.container.as_deref();
        let name_ok = |name: &str| glob.is_none_or(|g| glob_matches(g, name));
        match (&spec.condition, input) {
            (
                Condition::HostThreshold {
                    metric,
                    mount,
                    above,
                    clear_below,
                },
                Input::Sample(sample),
            ) => host_figure(sample, *metric, mount.as_deref())
                .and_then(|(value, what)| {
                    let subject = match (metric, mount) {
                        (HostFigure::Disk, Some(m)) => format!("mount:{m}"),
                        _ => "host".to_owned(),
                    };
                    // The common cases: good with nothing pending or firing, or breaching
                    // while already firing. Both are decided before any text is made
                    // (evaluation cost is per rule and sample; texts are for changes).
                    let key = Key {
                        rule_id: rule.id,
                        agent_id: Some(host.agent_id.to_owned()),
                        subject,
                    };
                    let firing = match self.trackers.get(&key) {
                        None if value <= *above => return None,
                        None => false,
                        Some(t) => t.firing,
                    };
                    if firing && value > *above {
                        let verdict = Verdict::Breach {
                            value: Some(value),
                            text: String::new(),
                        };
                        return Some(vec![(key.subject, verdict)]);
                    }
                    let subject = key.subject;
                    let shown = show(*metric, value);
                    let verdict = threshold(
                        value,
                        *above,
                        *clear_below,
                        format!(
                            "{what} {shown} on {} (above {})",
                            host.label,
                            show(*metric, *above)
                        ),
                        format!("{what} {shown}"),
                    );
                    Some(vec![(subject, verdict)])
                })
                .unwrap_or_default(),
            (
                Condition::ContainerThreshold {
                    metric,
                    above,
                    clear_below,
                },
                Input::ContainerStats(stats),
            ) => stats
                .iter()
                .filter(|s| name_ok(&s.name))
                .map(|s| {
                    let (value, what) = match metric {
                        ContainerFigure::Cpu => (s.cpu_pct, "CPU"),
                        ContainerFigure::Memory => (s.memory_pct, "memory"),
                    };
                    let verdict = threshold(
                        value,
                        *above,
                        *clear_below,
                        format!(
                            "container {} {what} {value:.1} % on {} (above {above:.1} %)",
                            s.name, host.label
                        ),
                        format!("{what} {value:.1} %"),
                    );
                    (format!("container:{}", s.name), verdict)
                })
                .collect(),
            (Condition::ContainerStopped, Input::Containers(list)) => list
                .iter()
                .filter(|c| name_ok(&c.name))
                .map(|c| {
                    let stopped = matches!(
                        c.state,
                        ContainerState::Exited | ContainerState::Dead | ContainerState::Created
                    );
                    let verdict = if stopped {
                        Verdict::Breach {
                            value: None,
                            text: format!("container {} is {} on {}", c.name, c.state, host.label),
                        }
                    } else {
                        Verdict::Good {
                            text: format!("container {} is {}", c.name, c.state),
                        }
                    };
                    (format!("container:{}", c.name), verdict)
                })
                .collect(),
            (Condition::ContainerUnhealthy, Input::Containers(list)) => list
                .iter()
                .filter(|c| name_ok(&c.name))
                .map(|c| {
                    let verdict = if c.health == ContainerHealth::Unhealthy {
                        Verdict::Breach {
                            value: None,
                            text: format!("container {} is unhealthy on {}", c.name, host.label),
                        }
                    } else {
                        Verdict::Good {
                            text: format!("container {} health: {}", c.name, c.health),
                        }
                    };
                    (format!("container:{}", c.name), verdict)
                })
                .collect(),
            (
                Condition::ContainerRestarting { restarts, window_s },
                Input::ContainerStarted { .. } | Input::Containers(_),
            ) => {
                let window_ms = *window_s as i64 * 1_000;
                let names: Vec<String> = match input {
                    Input::ContainerStarted { name, .. } => vec![name.to_owned()],
                    Input::Containers(list) => list.iter().map(|c| c.name.clone()).collect(),
                    _ => Vec::new(),
                };
                names
                    .into_iter()
                    .filter(|name| name_ok(name))
                    .map(|name| {
                        let count = self
                            .starts
                            .get_mut(&(host.agent_id.to_owned(), name.clone()))
                            .map_or(0, |starts| {
                                while starts.front().is_some_and(|t| *t < now_ms - window_ms) {
                                    starts.pop_front();
                                }
                                starts.len()
                            });
                        let verdict = if count >= *restarts as usize {
                            Verdict::Breach {
                                value: Some(count as f64),
                                text: format!(
                                    "container {name} started {count} times within {} on {}",
                                    human_duration_ms(window_ms),
                                    host.label
                                ),
                            }
                        } else {
                            Verdict::Good {
                                text: format!(
                                    "container {name}: {count} starts within {}",
                                    human_duration_ms(window_ms)
                                ),
                            }
                        };
                        (format!("container:{name}"), verdict)
                    })
                    .collect()
            }
            (Condition::CertificateExpiring { days }, Input::Certificates(scans)) => scans
                .iter()
                .filter_map(|c| {
                    let left = c.days_left?;
                    let verdict = if left <= *days {
                        Verdict::Breach {
                            value: Some(left as f64),
                            text: if left < 0 {
                                format!(
                                    "certificate {} on {} expired {} days ago",
                                    c.target, host.label, -left
                                )
                            } else {
                                format!(
                                    "certificate {} on {} expires in {left} days",
                                    c.target, host.label
                                )
                            },
                        }
                    } else {
                        Verdict::Good {
                            text: format!("certificate {} expires in {left} days", c.target),
                        }
                    };
                    Some((format!("certificate:{}", c.target), verdict))
                })
                .collect(),
            (Condition::CertificateInvalid, Input::Certificates(scans)) => scans
                .iter()
                .map(|c| {
                    let verdict = if c.valid && c.error.is_empty() {
                        Verdict::Good {
                            text: format!("certificate {} verifies", c.target),
                        }
                    } else {
                        let why = if c.error.is_empty() {
                            "its chain or name does not verify".to_owned()
                        } else {
                            c.error.clone()
                        };
                        Verdict::Breach {
                            value: None,
                            text: format!(
                                "certificate {} on {} is invalid: {why}",
                                c.target, host.label
                            ),
                        }
                    };
                    (format!("certificate:{}", c.target), verdict)
                })
                .collect(),
            (Condition::AppMismatch, Input::Apps(apps)) => apps
                .iter()
                .flat_map(|a| {
                    let state = if a.mismatch {
                        Verdict::Breach {
                            value: None,
                            text: format!(
                                "app {} on {} is {}, expected {}",
                                a.name, host.label, a.observed, a.expected
                            ),
                        }
                    } else {
                        Verdict::Good {
                            text: format!(
                                "app {} on {} is {} as expected",
                                a.name, host.label, a.expected
                            ),
                        }
                    };
                    let budget = if a.budget_spent {
                        Verdict::Breach {
                            value: None,
                            text: format!(
                                "app {} on {}: the agent refused a restart, its hourly restart budget is spent",
                                a.name, host.label
                            ),
                        }
                    } else {
                        Verdict::Good {
                            text: format!("app {} on {} has restarts left", a.name, host.label),
                        }
                    };
                    [
                        (format!("app:{}", a.app_id), state),
                        (format!("app-budget:{}", a.app_id), budget),
                    ]
                })
                .collect(),
            (Condition::AgentDown { silent_s }, Input::Presence { silent_ms }) => {
                let verdict = if silent_ms > *silent_s as i64 * 1_000 {
                    Verdict::Breach {
                        value: Some((silent_ms / 1_000) as f64),
                        text: format!(
                            "agent {} has not reported for {}",
                            host.label,
                            human_duration_ms(silent_ms)
                        ),
                    }
                } else {
                    Verdict::Good {
                        text: format!("agent {} is reporting again", host.label),
                    }
                };
                vec![("host".to_owned(), verdict)]
            }
            // A live sample is proof of life for agent-down rules.
            (Condition::AgentDown { .. }, Input::Sample(_)) => vec![(
                "host".to_owned(),
                Verdict::Good {
                    text: format!("agent {} is reporting again", host.label),
                },
            )],
            _ => Vec::new(),
        }
    }
}

pub fn in_scope(spec: &AlertRuleSpec, host: Host<'_>) -> bool {
    let scope = &spec.scope;
    scope.agent_id.as_deref().is_none_or(|a| a == host.agent_id)
        && scope
            .tag
            .as_deref()
            .is_none_or(|tag| host.tags.iter().any(|t| t == tag))
}

fn threshold(
    value: f64,
    above: f64,
    clear_below: Option<f64>,
    breach: String,
    good: String,
) -> Verdict {
    if value > above {
        Verdict::Breach {
            value: Some(value),
            text: breach,
        }
    } else if clear_below.is_none_or(|clear| value < clear) {
        Verdict::Good { text: good }
    } else {
        Verdict::Between
    }
}

/// A host figure and its name in messages; `None` when the sample lacks it.
fn host_figure(s: &HostSample, metric: HostFigure, mount: Option<&str>) -> Option<(f64, String)> {
    Some(match metric {
        HostFigure::Cpu => (s.cpu.total_pct, "CPU".into()),
        HostFigure::Memory => (s.memory_used_pct(), "memory".into()),
        HostFigure::Swap => {
            if s.memory.swap_total_bytes == 0 {
                return None;
            }
            (
                agent::collect::percent(
                    s.memory.swap_used_bytes as f64,
                    s.memory.swap_total_bytes as f64,
                ),
                "swap".into(),
            )
        }
        HostFigure::Disk => match mount {
            Some(m) => {
                let fs = s.filesystems.iter().find(|f| f.mount_point == m)?;
                (fs.used_pct(), format!("disk {m}"))
            }
            None => {
                let fs = s
                    .filesystems
                    .iter()
                    .max_by(|a, b| a.used_pct().total_cmp(&b.used_pct()))?;
                (fs.used_pct(), format!("disk {}", fs.mount_point))
            }
        },
        HostFigure::Load => {
            let cores = s.cpu.per_core_pct.len().max(1) as f64;
            (s.load.one / cores, "load per core".into())
        }
        HostFigure::NetRx => (s.net_rx_bytes_per_s(), "network in".into()),
        HostFigure::NetTx => (s.net_tx_bytes_per_s(), "network out".into()),
    })
}

/// A figure as a person reads it.
pub fn show(metric: HostFigure, value: f64) -> String {
    match metric {
        HostFigure::Cpu | HostFigure::Memory | HostFigure::Swap | HostFigure::Disk => {
            format!("{value:.1} %")
        }
        HostFigure::Load => format!("{value:.2}"),
        HostFigure::NetRx | HostFigure::NetTx => rate(value),
    }
}

fn rate(bytes_per_s: f64) -> String {
    const UNITS: [&str; 5] = ["B/s", "kB/s", "MB/s", "GB/s", "TB/s"];
    let mut v = bytes_per_s;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn hold_ms(hold: Hold) -> i64 {
    match hold {
        Hold::Seconds(s) => s as i64 * 1_000,
        Hold::Evaluations(_) => 0,
    }
}

/// `45 s`, `4 min`, `2 h 5 min`, `3 d 4 h`.
pub fn human_duration_ms(ms: i64) -> String {
    let s = ms.max(0) / 1_000;
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min", s / 60),
        3_600..86_400 => match (s % 3_600) / 60 {
            0 => format!("{} h", s / 3_600),
            m => format!("{} h {m} min", s / 3_600),
        },
        _ => match (s % 86_400) / 3_600 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

#[cfg(test)]
mod tests {
    use agent::collect::{CpuUsage, LoadAverage, Memory};
    use app::alerts::Scope;

    use super::*;

    fn sample(cpu: f64) -> HostSample {
        HostSample {
            taken_at_ms: 0,
            hostname: "web-1".into(),
            uptime_s: 1,
            cpu: CpuUsage {
                total_pct: cpu,
                per_core_pct: vec![cpu, cpu],
            },
            load: LoadAverage {
                one: 0.5,
                five: 0.5,
                fifteen: 0.5,
            },
            memory: Memory {
                total_bytes: 100,
                available_bytes: 50,
                used_bytes: 50,
                swap_total_bytes: 0,
                swap_used_bytes: 0,
            },
            filesystems: Vec::new(),
            network: Vec::new(),
            processes: Vec::new(),
        }
    }

    fn rule(id: i64, condition: Condition, hold: Hold, recover_for: u32) -> Rule {
        Rule {
            id,
            spec: AlertRuleSpec {
                name: format!("rule {id}"),
                condition,
                scope: Scope::default(),
                severity: app::Severity::Critical,
                hold,
                recover_for,
                channels: Vec::new(),
                enabled: true,
            },
        }
    }

    fn cpu_rule(above: f64, clear_below: Option<f64>, hold: u32) -> Rule {
        rule(
            1,
            Condition::HostThreshold {
                metric: HostFigure::Cpu,
                mount: None,
                above,
                clear_below,
            },
            Hold::Evaluations(hold),
            2,
        )
    }

    const HOST: Host<'static> = Host {
        agent_id: "a1",
        label: "web-1",
        tags: &[],
    };

    /// Feeds CPU figures one per second; the changes, by kind, as they came.
    fn run(engine: &mut Engine, figures: &[f64]) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (i, cpu) in figures.iter().enumerate() {
            for t in engine.observe(HOST, Input::Sample(&sample(*cpu)), i as i64 * 1_000) {
                out.push(match t.change {
                    Change::Fired { .. } => "fired",
                    Change::Recovering { .. } => "recovering",
                    Change::Resolved { .. } => "resolved",
                });
            }
        }
        out
    }

    #[test]
    fn a_for_3_rule_ignores_two_spikes_and_fires_on_the_third_in_a_row() {
        let mut engine = Engine::default();
        engine.set_rules(vec![cpu_rule(90.0, None, 3)], 0);
        assert!(run(&mut engine, &[95.0, 95.0, 10.0, 95.0, 10.0]).is_empty());
        let mut engine = Engine::default();
        engine.set_rules(vec![cpu_rule(90.0, None, 3)], 0);
        assert_eq!(run(&mut engine, &[95.0, 95.0, 95.0, 97.0, 99.0]), ["fired"]);
    }

    #[test]
    fn it_fires_once_and_resolves_once_after_recover_for_good_samples() {
        let mut engine = Engine::default();
        engine.set_rules(vec![cpu_rule(90.0, None, 1)], 0);
        let changes = run(
            &mut engine,
            &[95.0, 96.0, 10.0, 95.0, 10.0, 10.0, 10.0, 10.0],
        );
        // One good sample, then a breach resets the count; two good ones resolve it.
        assert_eq!(changes, ["fired", "recovering", "recovering", "resolved"]);
    }

    #[test]
    fn the_clear_threshold_holds_a_firing_alert_between_the_two() {
        let mut engine = Engine::default();
        engine.set_rules(vec![cpu_rule(90.0, Some(80.0), 1)], 0);
        // 85 is between: neither good nor breaching, so it stays firing.
        assert_eq!(run(&mut engine, &[95.0, 85.0, 85.0, 85.0]), ["fired"]);
        let mut engine = Engine::default();
        engine.set_rules(vec![cpu_rule(90.0, Some(80.0), 1)], 0);
        assert_eq!(
            run(&mut engine, &[95.0, 85.0, 70.0, 70.0]),
            ["fired", "recovering", "resolved"]
        );
    }

    #[test]
    fn the_timeline_of_a_firing_alert_holds_its_pending_steps() {
        let mut engine = Engine::default();
        engine.set_rules(vec![cpu_rule(90.0, None, 3)], 0);
        let mut fired = None;
        for (i, cpu) in [91.0, 92.0, 93.0].iter().enumerate() {
            fired = engine
                .observe(HOST, Input::Sample(&sample(*cpu)), i as i64)
                .pop()
                .or(fired);
        }
        let Some(Transition {
            change:
                Change::Fired {
                    steps,
                    summary,
                    value,
                },
            ..
        }) = fired
        else {
            panic!("it fires on the third");
        };
        let texts: Vec<&str> = steps.iter().map(|(_, t)| t.as_str()).collect();
        assert!(
            texts[0].starts_with("1 of 3 breaching evaluations: CPU 91.0 %"),
            "{texts:?}"
        );
        assert!(texts[2].starts_with("3 of 3"), "{texts:?}");
        assert_eq!(summary, "CPU 93.0 % on web-1 (above 90.0 %)");
        assert_eq!(value, Some(93.0));
    }

    #[test]
    fn a_duration_hold_fires_only_after_breaching_that_long() {
        let mut engine = Engine::default();
        let mut r = cpu_rule(90.0, None, 1);
        r.spec.hold = Hold::Seconds(3);
        engine.set_rules(vec![r], 0);
        // One sample per second: breaching at 0, 1, 2 s is not yet 3 s; at 3 s it is.
        assert_eq!(run(&mut engine, &[95.0, 95.0, 95.0]), Vec::<&str>::new());
        let mut engine = Engine::default();
        let mut r = cpu_rule(90.0, None, 1);
        r.spec.hold = Hold::Seconds(3);
        engine.set_rules(vec![r], 0);
        assert_eq!(run(&mut engine, &[95.0, 95.0, 95.0, 95.0]), ["fired"]);
    }

    #[test]
    fn scope_by_agent_and_tag() {
        let mut engine = Engine::default();
        let mut r = cpu_rule(90.0, None, 1);
        r.spec.scope.tag = Some("db".into());
        engine.set_rules(vec![r], 0);
        assert!(
            engine
                .observe(HOST, Input::Sample(&sample(99.0)), 0)
                .is_empty()
        );
        let tags = ["db".to_owned()];
        let tagged = Host {
            tags: &tags,
            ..HOST
        };
        assert_eq!(
            engine
                .observe(tagged, Input::Sample(&sample(99.0)), 0)
                .len(),
            1
        );
    }

    #[test]
    fn a_restored_alert_does_not_fire_again_and_resolves_once() {
        let mut engine = Engine::default();
        engine.set_rules(vec![cpu_rule(90.0, None, 1)], 0);
        engine.restore_firing(
            Key {
                rule_id: 1,
                agent_id: Some("a1".into()),
                subject: "host".into(),
            },
            "web-1",
            0,
        );
        assert_eq!(
            run(&mut engine, &[95.0, 10.0, 10.0]),
            ["recovering", "resolved"]
        );
    }

    fn down_rule() -> Rule {
        rule(
            7,
            Condition::AgentDown { silent_s: 60 },
            Hold::Evaluations(1),
            2,
        )
    }

    #[test]
    fn an_agent_down_fires_once_and_comes_back_on_its_first_live_sample() {
        let mut engine = Engine::default();
        engine.set_rules(vec![down_rule()], 0);
        assert!(engine.sweep(&[(HOST, 30_000)], 30_000).is_empty());
        let fired = engine.sweep(&[(HOST, 90_000)], 90_000);
        assert!(matches!(fired[0].change, Change::Fired { .. }), "{fired:?}");
        assert!(engine.sweep(&[(HOST, 120_000)], 120_000).is_empty(), "once");
        let back = engine.observe(HOST, Input::Sample(&sample(1.0)), 130_000);
        assert!(
            matches!(back[0].change, Change::Resolved { .. }),
            "{back:?}"
        );
    }

    #[test]
    fn many_agents_down_in_one_sweep_give_one_fleet_alert() {
        let mut engine = Engine::default();
        engine.set_rules(vec![down_rule()], 0);
        let ids: Vec<String> = (0..12).map(|i| format!("a{i}")).collect();
        let host = |i: usize| Host {
            agent_id: &ids[i],
            label: &ids[i],
            tags: &[],
        };
        // Ten of twelve silent at once.
        let hosts: Vec<(Host<'_>, i64)> = (0..12)
            .map(|i| (host(i), if i < 10 { 120_000 } else { 1_000 }))
            .collect();
        let changes = engine.sweep(&hosts, 120_000);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].key.subject, FLEET);
        let Change::Fired { summary, .. } = &changes[0].change else {
            panic!("fired");
        };
        assert!(
            summary.starts_with("10 of 12 agents stopped reporting at once"),
            "{summary}"
        );
        // An eleventh that stops a sweep later joins the outage without a message of its own.
        let straggler: Vec<(Host<'_>, i64)> = (0..12)
            .map(|i| (host(i), if i <= 10 { 125_000 } else { 1_000 }))
            .collect();
        assert!(engine.sweep(&straggler, 125_000).is_empty());
        engine.observe(host(10), Input::Sample(&sample(1.0)), 126_000);
        // Back one by one: nothing per agent; the fleet alert resolves when the last is back.
        for i in 0..9 {
            assert!(
                engine
                    .observe(host(i), Input::Sample(&sample(1.0)), 130_000)
                    .is_empty()
            );
        }
        let still: Vec<(Host<'_>, i64)> = (0..12)
            .map(|i| (host(i), if i == 9 { 140_000 } else { 1_000 }))
            .collect();
        assert!(engine.sweep(&still, 140_000).is_empty());
        assert!(
            engine
                .observe(host(9), Input::Sample(&sample(1.0)), 150_000)
                .is_empty()
        );
        let all_back: Vec<(Host<'_>, i64)> = (0..12).map(|i| (host(i), 1_000)).collect();
        let resolved = engine.sweep(&all_back, 160_000);
        assert_eq!(resolved.len(), 1);
        assert!(matches!(resolved[0].change, Change::Resolved { .. }));
    }

    #[test]
    fn agents_that_stop_together_but_cross_the_threshold_a_sweep_apart_give_one_alert() {
        let mut engine = Engine::default();
        engine.set_rules(vec![down_rule()], 0);
        let ids: Vec<String> = (0..12).map(|i| format!("a{i}")).collect();
        let host = |i: usize| Host {
            agent_id: &ids[i],
            label: &ids[i],
            tags: &[],
        };
        // Ten stopped within a second of each other; by the phase of their last reports,
        // four are past the 60 s threshold at this sweep, six just short of it.
        let first: Vec<(Host<'_>, i64)> = (0..12)
            .map(|i| {
                let silent = match i {
                    0..4 => 60_500,
                    4..10 => 59_600,
                    _ => 1_000,
                };
                (host(i), silent)
            })
            .collect();
        let changes = engine.sweep(&first, 120_000);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].key.subject, FLEET);
        let Change::Fired { summary, .. } = &changes[0].change else {
            panic!("fired");
        };
        assert!(
            summary.starts_with("10 of 12 agents stopped reporting at once"),
            "{summary}"
        );
        let next: Vec<(Host<'_>, i64)> = (0..12)
            .map(|i| (host(i), if i < 10 { 61_000 } else { 1_000 }))
            .collect();
        assert!(engine.sweep(&next, 121_000).is_empty(), "the rest join it");
    }

    #[test]
    fn few_agents_down_alert_one_by_one() {
        let mut engine = Engine::default();
        engine.set_rules(vec![down_rule()], 0);
        let ids: Vec<String> = (0..3).map(|i| format!("a{i}")).collect();
        let hosts: Vec<(Host<'_>, i64)> = ids
            .iter()
            .map(|id| {
                (
                    Host {
                        agent_id: id,
                        label: id,
                        tags: &[],
                    },
                    120_000,
                )
            })
            .collect();
        let changes = engine.sweep(&hosts, 120_000);
        assert_eq!(changes.len(), 3, "fewer than five: one each");
    }

    #[test]
    fn containers_stopped_unhealthy_and_restarting() {
        let mut engine = Engine::default();
        let mut stopped = rule(2, Condition::ContainerStopped, Hold::Evaluations(1), 1);
        stopped.spec.scope.container = Some("web-*".into());
        let restarting = rule(
            3,
            Condition::ContainerRestarting {
                restarts: 3,
                window_s: 60,
            },
            Hold::Evaluations(1),
            1,
        );
        engine.set_rules(vec![stopped, restarting], 0);
        let list = |state: ContainerState| {
            vec![
                ContainerObs {
                    name: "web-1".into(),
                    state,
                    health: ContainerHealth::None,
                },
                ContainerObs {
                    name: "db".into(),
                    state: ContainerState::Exited,
                    health: ContainerHealth::None,
                },
            ]
        };
        let fired = engine.observe(HOST, Input::Containers(&list(ContainerState::Exited)), 0);
        assert_eq!(fired.len(), 1, "only web-* is watched: {fired:?}");
        assert_eq!(fired[0].key.subject, "container:web-1");
        let back = engine.observe(
            HOST,
            Input::Containers(&list(ContainerState::Running)),
            1_000,
        );
        assert!(matches!(back[0].change, Change::Resolved { .. }));
        let mut fired = Vec::new();
        for t in [10_000, 20_000, 30_000] {
            fired.extend(engine.observe(
                HOST,
                Input::ContainerStarted {
                    name: "db",
                    at_ms: t,
                },
                t,
            ));
        }
        assert_eq!(fired.len(), 1, "the third start within a minute fires");
        // Two minutes later the starts have left the window.
        let calm = engine.observe(
            HOST,
            Input::Containers(&list(ContainerState::Running)),
            150_000,
        );
        assert!(calm.iter().any(
            |t| t.key.subject == "container:db" && matches!(t.change, Change::Resolved { .. })
        ));
    }

    #[test]
    fn certificates_expiring_and_invalid() {
        let mut engine = Engine::default();
        engine.set_rules(
            vec![
                rule(
                    4,
                    Condition::CertificateExpiring { days: 14 },
                    Hold::Evaluations(1),
                    1,
                ),
                rule(5, Condition::CertificateInvalid, Hold::Evaluations(1), 1),
            ],
            0,
        );
        let scans = [
            CertificateObs {
                target: "a:443".into(),
                days_left: Some(10),
                valid: true,
                error: String::new(),
            },
            CertificateObs {
                target: "b:443".into(),
                days_left: Some(90),
                valid: false,
                error: "unknown issuer".into(),
            },
        ];
        let fired = engine.observe(HOST, Input::Certificates(&scans), 0);
        let subjects: Vec<(i64, &str)> = fired
            .iter()
            .map(|t| (t.key.rule_id, t.key.subject.as_str()))
            .collect();
        assert_eq!(
            subjects,
            [(4, "certificate:a:443"), (5, "certificate:b:443")]
        );
    }

    #[test]
    fn deleting_a_rule_resolves_its_firing_alerts() {
        let mut engine = Engine::default();
        engine.set_rules(vec![cpu_rule(90.0, None, 1)], 0);
        assert_eq!(run(&mut engine, &[95.0]), ["fired"]);
        let ended = engine.set_rules(Vec::new(), 5);
        assert!(matches!(ended[0].change, Change::Resolved { .. }));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human_duration_ms(45_000), "45 s");
        assert_eq!(human_duration_ms(240_000), "4 min");
        assert_eq!(human_duration_ms(7_500_000), "2 h 5 min");
        assert_eq!(human_duration_ms(3 * 86_400_000), "3 d");
    }
}
