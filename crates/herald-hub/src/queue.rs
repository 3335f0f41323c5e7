//! One subscriber's bounded queue of frames, from the hub to its stream.
//!
//! Not `tokio::sync::mpsc`: that channel allocates its first block of 32
//! slots (about 2 KiB for a `Frame`) when it is made, and an idle stream
//! holds it for ever, a third of what an idle connection costs. This queue
//! holds nothing until a frame arrives, and gives its slots back once it
//! is drained. One producer at a time (the hub, under its
//! lock) and one consumer (the stream), so a plain mutex is uncontended.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::Frame;

/// Capacity of the overflow kept after it drains: none. An idle stream
/// then holds no slot beyond `head` (four `Frame`s were 320 bytes of every
/// idle connection).
const KEEP_CAPACITY: usize = 0;

#[derive(Debug, Default)]
struct State {
    /// The oldest frame when the queue holds one. At everyday rates a
    /// stream holds at most one frame at a time, and this slot, part of
    /// the queue itself, takes it without an allocation on the hub's thread
    /// and a free on the stream's (frees across threads take the
    /// allocator's arena lock).
    head: Option<Frame>,
    /// The frames after `head`, in order.
    rest: VecDeque<Frame>,
    /// The consumer waiting for a frame.
    waker: Option<Waker>,
    /// The hub dropped the subscriber: the stream ends once drained.
    closed: bool,
    /// The stream is gone: sending is pointless.
    abandoned: bool,
}

impl State {
    fn len(&self) -> usize {
        usize::from(self.head.is_some()) + self.rest.len()
    }

    fn push(&mut self, frame: Frame) {
        if self.head.is_none() && self.rest.is_empty() {
            self.head = Some(frame);
        } else {
            self.rest.push_back(frame);
        }
    }

    fn pop(&mut self) -> Option<Frame> {
        if let Some(frame) = self.head.take() {
            return Some(frame);
        }
        let frame = self.rest.pop_front()?;
        if self.rest.is_empty() && self.rest.capacity() > KEEP_CAPACITY {
            self.rest.shrink_to(KEEP_CAPACITY);
        }
        Some(frame)
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The queue holds its capacity: the reader is too slow.
    Full,
    /// The stream is gone.
    Closed,
}

/// Why nothing was taken from the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued now.
    Empty,
    /// Nothing queued, and the hub dropped the subscriber.
    Disconnected,
}

/// The hub's end.
#[derive(Debug)]
pub struct Sender(Arc<Shared>);

/// The stream's end.
#[derive(Debug)]
pub struct Receiver(Arc<Shared>);

/// A queue of at most `capacity` frames (at least 1).
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared { state: Mutex::new(State::default()), capacity: capacity.max(1) });
    (Sender(shared.clone()), Receiver(shared))
}

impl Sender {
    pub fn try_send(&self, frame: Frame) -> Result<(), SendError> {
        let mut state = self.0.lock();
        if state.abandoned || state.closed {
            return Err(SendError::Closed);
        }
        if state.len() >= self.0.capacity {
            return Err(SendError::Full);
        }
        state.push(frame);
        let waker = state.waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

impl Sender {
    /// Ends the queue: the stream ends once it has read what is queued, and
    /// nothing more is accepted.
    pub fn close(&self) {
        let mut state = self.0.lock();
        state.closed = true;
        let waker = state.waker.take();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.close();
    }
}

impl Receiver {
    pub fn try_recv(&mut self) -> Result<Frame, TryRecvError> {
        let mut state = self.0.lock();
        Self::take(&mut state)
    }

    fn take(state: &mut State) -> Result<Frame, TryRecvError> {
        match state.pop() {
            Some(frame) => Ok(frame),
            None if state.closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next frame, or `None` once the hub dropped the subscriber and
    /// everything queued was taken.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        // One lock for the take and, when empty, the waker: the sender
        // takes the same lock to wake, so no frame can slip in between.
        let mut state = self.0.lock();
        match Self::take(&mut state) {
            Ok(frame) => Poll::Ready(Some(frame)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                match &mut state.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    pub async fn recv(&mut self) -> Option<Frame> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.abandoned = true;
        state.head = None;
        state.rest = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_come_in_order_up_to_the_capacity_then_the_end() {
        let (tx, mut rx) = channel(2);
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
        tx.try_send(Frame::heartbeat()).unwrap();
        tx.try_send(Frame::retry(1)).unwrap();
        assert_eq!(tx.try_send(Frame::retry(2)).unwrap_err(), SendError::Full);
        assert_eq!(rx.recv().await.unwrap().bytes, Frame::heartbeat().bytes);
        tx.try_send(Frame::retry(3)).unwrap();
        drop(tx);
        assert_eq!(rx.recv().await.unwrap().bytes, Frame::retry(1).bytes, "what was queued is still read");
        assert_eq!(rx.recv().await.unwrap().bytes, Frame::retry(3).bytes);
        assert!(rx.recv().await.is_none());
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Disconnected);
    }

    #[tokio::test]
    async fn a_waiting_reader_is_woken_and_a_gone_reader_refuses_frames() {
        let (tx, mut rx) = channel(4);
        let reader = tokio::spawn(async move {
            let f = rx.recv().await;
            (f.map(|f| f.bytes), rx)
        });
        tokio::task::yield_now().await;
        tx.try_send(Frame::heartbeat()).unwrap();
        let (got, rx) = reader.await.unwrap();
        assert_eq!(got, Some(Frame::heartbeat().bytes));
        drop(rx);
        assert_eq!(tx.try_send(Frame::heartbeat()).unwrap_err(), SendError::Closed);
    }

    #[test]
    fn order_holds_however_sends_and_takes_interleave() {
        let (tx, mut rx) = channel(8);
        let (mut sent, mut got) = (0u128, Vec::new());
        // Sends and takes in uneven steps, so frames pass through the head
        // slot and the overflow in every combination.
        for step in [1usize, 3, 1, 2, 5, 1, 4, 2] {
            for _ in 0..step {
                tx.try_send(Frame::retry(sent)).unwrap();
                sent += 1;
            }
            for _ in 0..step.div_ceil(2) {
                got.push(rx.try_recv().unwrap().bytes);
            }
        }
        while let Ok(f) = rx.try_recv() {
            got.push(f.bytes);
        }
        let expected: Vec<_> = (0..sent).map(|i| Frame::retry(i).bytes).collect();
        assert_eq!(got, expected, "frames in the order sent");
    }

    #[test]
    fn an_idle_queue_holds_no_slot() {
        let (tx, mut rx) = channel(1000);
        for _ in 0..500 {
            tx.try_send(Frame::heartbeat()).unwrap();
        }
        assert!(rx.0.lock().rest.capacity() >= 499);
        while rx.try_recv().is_ok() {}
        assert_eq!(rx.0.lock().rest.capacity(), KEEP_CAPACITY, "a burst is given back once drained");
        tx.try_send(Frame::heartbeat()).unwrap();
        assert_eq!(rx.0.lock().rest.capacity(), 0, "a single frame takes the head slot, nothing allocated");
        rx.try_recv().unwrap();
        assert_eq!(rx.0.lock().rest.capacity(), KEEP_CAPACITY, "so is a single frame");
    }
}
