//! Per-stream accounting of sequence numbers in constant memory when
//! nothing goes wrong: the highest number seen plus the gaps below it.
//!
//! A stream that receives 0, 1, 2, … in order keeps no list at all; a gap
//! is remembered as a range until its numbers arrive late (out of order)
//! or the run ends (lost). So many thousands of subscribers can each count
//! millions of events without a bitmap apiece.

/// Most gaps remembered; past this, numbers that skip ahead are still
/// counted but a later arrival inside a forgotten gap counts as duplicated.
const MAX_GAPS: usize = 4096;

/// What became of one received sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// First arrival, in order.
    New,
    /// First arrival, but below a number already seen.
    Late,
    /// Already received.
    Again,
}

/// The sequence numbers one stream has received.
#[derive(Debug, Default)]
pub struct SeqTracker {
    /// One past the highest number seen (0: none yet).
    next: u64,
    /// Numbers below `next` not received yet, as `start..end` ranges in
    /// ascending order.
    gaps: Vec<(u64, u64)>,
    /// Distinct numbers received.
    pub distinct: u64,
    /// Extra copies received.
    pub duplicated: u64,
    /// First arrivals below a number already seen.
    pub out_of_order: u64,
}

impl SeqTracker {
    /// Records `seq` and tells how it arrived.
    pub fn record(&mut self, seq: u64) -> Seen {
        let seen = if seq >= self.next {
            if seq > self.next && self.gaps.len() < MAX_GAPS {
                self.gaps.push((self.next, seq));
            }
            self.next = seq + 1;
            Seen::New
        } else {
            // Gaps are few and sorted: find the one holding `seq`, if any.
            let i = self.gaps.partition_point(|&(_, end)| end <= seq);
            match self.gaps.get(i).copied() {
                Some((start, end)) if start <= seq => {
                    match (seq == start, seq + 1 == end) {
                        (true, true) => {
                            self.gaps.remove(i);
                        }
                        (true, false) => self.gaps[i].0 = seq + 1,
                        (false, true) => self.gaps[i].1 = seq,
                        (false, false) => {
                            self.gaps[i].1 = seq;
                            if self.gaps.len() < MAX_GAPS {
                                self.gaps.insert(i + 1, (seq + 1, end));
                            }
                        }
                    }
                    Seen::Late
                }
                _ => Seen::Again,
            }
        };
        match seen {
            Seen::New => self.distinct += 1,
            Seen::Late => {
                self.distinct += 1;
                self.out_of_order += 1;
            }
            Seen::Again => self.duplicated += 1,
        }
        seen
    }

    /// Whether `seq` has been received.
    pub fn contains(&self, seq: u64) -> bool {
        if seq >= self.next {
            return false;
        }
        let i = self.gaps.partition_point(|&(_, end)| end <= seq);
        self.gaps.get(i).is_none_or(|&(start, _)| start > seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_streams_keep_no_gaps() {
        let mut t = SeqTracker::default();
        for s in 0..1000 {
            assert_eq!(t.record(s), Seen::New);
        }
        assert!(t.gaps.is_empty());
        assert_eq!((t.distinct, t.duplicated, t.out_of_order), (1000, 0, 0));
        assert!(t.contains(999) && !t.contains(1000));
    }

    #[test]
    fn gaps_fill_late_and_copies_count_once() {
        let mut t = SeqTracker::default();
        for s in [0, 5, 9] {
            assert_eq!(t.record(s), Seen::New);
        }
        assert_eq!(t.gaps, vec![(1, 5), (6, 9)]);
        assert!(!t.contains(3) && t.contains(5) && !t.contains(7));
        assert_eq!(t.record(3), Seen::Late);
        assert_eq!(t.gaps, vec![(1, 3), (4, 5), (6, 9)]);
        for s in [1, 2, 4, 6, 8, 7] {
            assert_eq!(t.record(s), Seen::Late, "{s}");
        }
        assert!(t.gaps.is_empty());
        for s in [0, 3, 9] {
            assert_eq!(t.record(s), Seen::Again);
        }
        assert_eq!((t.distinct, t.duplicated, t.out_of_order), (10, 3, 7));
        assert!((0..10).all(|s| t.contains(s)));
    }

    #[test]
    fn a_missing_number_is_simply_not_contained() {
        let mut t = SeqTracker::default();
        for s in (0..100).filter(|s| s % 10 != 3) {
            t.record(s);
        }
        assert_eq!(t.distinct, 90);
        assert_eq!(t.out_of_order, 0);
        assert_eq!((0..100).filter(|&s| !t.contains(s)).count(), 10);
    }
}
