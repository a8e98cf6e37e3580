//! Events waiting to be committed by the server: unsent ones, and sent ones kept until acked.
//! Sequence numbers are given at first send and never change, so a resend after a lost ack
//! is recognised by the server as a duplicate.
use std::collections::VecDeque;

/// The agent's queue of events. Bounded: past `capacity`, the oldest unsent events are dropped
/// and counted.
#[derive(Debug)]
pub struct Outbox {
    capacity: usize,
    next_seq: Option<u64>,
    unsent: VecDeque<proto::Event>,
    inflight: VecDeque<(u64, proto::Event)>,
    dropped: u64,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            next_seq: None,
            unsent: VecDeque::new(),
            inflight: VecDeque::new(),
            dropped: 0,
        }
    }

    /// Queues an event for sending.
    pub fn push(&mut self, event: proto::Event) {
        self.unsent.push_back(event);
        while self.unsent.len() + self.inflight.len() > self.capacity
            && self.unsent.pop_front().is_some()
        {
            self.dropped += 1;
        }
    }

    /// The server's committed position on (re)connection: forgets what it has, and fixes the
    /// numbering the first time.
    pub fn resume_after(&mut self, last_seq: u64) {
        self.acked(last_seq);
        let next = self.next_seq.get_or_insert(last_seq + 1);
        if *next <= last_seq {
            *next = last_seq + 1;
        }
    }

    /// Drops everything up to and including `seq`.
    pub fn acked(&mut self, seq: u64) {
        while self.inflight.front().is_some_and(|(s, _)| *s <= seq) {
            self.inflight.pop_front();
        }
    }

    /// Everything sent but not acknowledged, as one batch (after a reconnect or a refusal).
    pub fn resend_batch(&self) -> Option<proto::EventBatch> {
        let first_seq = self.inflight.front()?.0;
        Some(proto::EventBatch {
            first_seq,
            events: self.inflight.iter().map(|(_, e)| e.clone()).collect(),
        })
    }

    /// Numbers the unsent events and returns them as a batch. `None` before the numbering is
    /// known or when nothing waits.
    pub fn next_batch(&mut self, max_events: usize) -> Option<proto::EventBatch> {
        let next = self.next_seq.as_mut()?;
        if self.unsent.is_empty() {
            return None;
        }
        let first_seq = *next;
        let mut events = Vec::new();
        while events.len() < max_events {
            let Some(event) = self.unsent.pop_front() else {
                break;
            };
            self.inflight.push_back((*next, event.clone()));
            events.push(event);
            *next += 1;
        }
        Some(proto::EventBatch { first_seq, events })
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Events not yet committed.
    pub fn len(&self) -> usize {
        self.unsent.len() + self.inflight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t: i64) -> proto::Event {
        proto::Event {
            time_ms: t,
            body: None,
        }
    }

    #[test]
    fn numbers_from_the_server_position_and_resends_only_unacked() {
        let mut outbox = Outbox::new(100);
        outbox.push(event(1));
        assert!(
            outbox.next_batch(10).is_none(),
            "no numbering before the server says where it is"
        );
        outbox.resume_after(41);
        let batch = outbox.next_batch(10).unwrap();
        assert_eq!((batch.first_seq, batch.events.len()), (42, 1));
        outbox.push(event(2));
        outbox.push(event(3));
        assert_eq!(outbox.next_batch(10).unwrap().first_seq, 43);
        outbox.acked(43);
        let again = outbox.resend_batch().unwrap();
        assert_eq!((again.first_seq, again.events.len()), (44, 1));
        // The server committed 44 before the connection dropped: nothing left to resend.
        outbox.resume_after(44);
        assert!(outbox.resend_batch().is_none());
        outbox.push(event(4));
        assert_eq!(outbox.next_batch(10).unwrap().first_seq, 45);
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_unsent() {
        let mut outbox = Outbox::new(2);
        for t in 0..5 {
            outbox.push(event(t));
        }
        assert_eq!((outbox.len(), outbox.dropped()), (2, 3));
        outbox.resume_after(0);
        let batch = outbox.next_batch(10).unwrap();
        assert_eq!(
            batch.events.iter().map(|e| e.time_ms).collect::<Vec<_>>(),
            vec![3, 4]
        );
    }
}
