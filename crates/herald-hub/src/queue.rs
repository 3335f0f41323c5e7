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

/// Capacity kept after the queue drains: none. An idle stream then holds no
/// slot at all (four `Frame`s were 320 bytes of every idle connection), and
/// the slots a frame needs are taken and given back on the stream's own
/// thread, where the allocator's per-thread cache makes that cheap.
const KEEP_CAPACITY: usize = 0;

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Frame>,
    /// The consumer waiting for a frame.
    waker: Option<Waker>,
    /// The hub dropped the subscriber: the stream ends once drained.
    closed: bool,
    /// The stream is gone: sending is pointless.
    abandoned: bool,
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
        if state.frames.len() >= self.0.capacity {
            return Err(SendError::Full);
        }
        state.frames.push_back(frame);
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
        match state.frames.pop_front() {
            Some(frame) => {
                if state.frames.is_empty() && state.frames.capacity() > KEEP_CAPACITY {
                    state.frames.shrink_to(KEEP_CAPACITY);
                }
                Ok(frame)
            }
            None if state.closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next frame, or `None` once the hub dropped the subscriber and
    /// everything queued was taken.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        match self.try_recv() {
            Ok(frame) => Poll::Ready(Some(frame)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                let mut state = self.0.lock();
                // Checked again under the lock the sender takes to wake.
                if !state.frames.is_empty() || state.closed {
                    drop(state);
                    return self.poll_recv(cx);
                }
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
        state.frames.clear();
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
    fn an_idle_queue_holds_no_slot() {
        let (tx, mut rx) = channel(1000);
        for _ in 0..500 {
            tx.try_send(Frame::heartbeat()).unwrap();
        }
        assert!(rx.0.lock().frames.capacity() >= 500);
        while rx.try_recv().is_ok() {}
        assert_eq!(rx.0.lock().frames.capacity(), KEEP_CAPACITY, "a burst is given back once drained");
        tx.try_send(Frame::heartbeat()).unwrap();
        rx.try_recv().unwrap();
        assert_eq!(rx.0.lock().frames.capacity(), KEEP_CAPACITY, "so is a single frame");
    }
}
