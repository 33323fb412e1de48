//! The anti-replay window for one direction of one media session: a packet is accepted once,
//! and only if its sequence number is at most [`WINDOW`] behind the newest accepted one.
//!
//! Sans-IO. [`ReplayWindow::check`] runs before decryption (cheap rejection);
//! [`ReplayWindow::accept`] runs only after the packet's tag verified, so forged packets can
//! never move the window.

/// How far behind the newest packet a late packet may still arrive.
pub(crate) const WINDOW: u64 = 128;

/// Sliding window over sequence numbers.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplayWindow {
    /// Newest accepted sequence number plus one (0: nothing accepted yet).
    next: u64,
    /// Bit `i` set: sequence number `next - 1 - i` was accepted.
    seen: u128,
}

/// Why a sequence number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Accepted before.
    Replayed,
    /// Too old to tell.
    TooOld,
}

impl ReplayWindow {
    /// Whether `seq` could be accepted now (does not record it).
    pub fn check(&self, seq: u64) -> Result<(), Refused> {
        if seq >= self.next {
            return Ok(());
        }
        let behind = self.next - 1 - seq;
        if behind >= WINDOW {
            return Err(Refused::TooOld);
        }
        if self.seen & (1u128 << behind) != 0 {
            return Err(Refused::Replayed);
        }
        Ok(())
    }

    /// Records `seq` as accepted; call only after [`ReplayWindow::check`] passed and the
    /// packet authenticated.
    pub fn accept(&mut self, seq: u64) {
        if seq >= self.next {
            let shift = seq - self.next + 1;
            self.seen = if shift >= WINDOW { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.next = seq + 1;
        } else {
            self.seen |= 1u128 << (self.next - 1 - seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(window: &mut ReplayWindow, seq: u64) -> Result<(), Refused> {
        window.check(seq)?;
        window.accept(seq);
        Ok(())
    }

    #[test]
    fn in_order_late_duplicate_and_too_old() {
        let mut window = ReplayWindow::default();
        for seq in 0..10 {
            assert_eq!(take(&mut window, seq), Ok(()));
        }
        assert_eq!(take(&mut window, 5), Err(Refused::Replayed));
        assert_eq!(take(&mut window, 300), Ok(()), "jumps ahead");
        assert_eq!(take(&mut window, 299), Ok(()), "late but inside the window");
        assert_eq!(take(&mut window, 299), Err(Refused::Replayed));
        assert_eq!(take(&mut window, 300 - WINDOW + 1), Ok(()), "oldest still inside");
        assert_eq!(take(&mut window, 300 - WINDOW), Err(Refused::TooOld));
        assert_eq!(take(&mut window, 9), Err(Refused::TooOld));
    }

    #[test]
    fn check_alone_records_nothing() {
        let mut window = ReplayWindow::default();
        assert_eq!(window.check(7), Ok(()));
        assert_eq!(window.check(7), Ok(()));
        window.accept(7);
        assert_eq!(window.check(7), Err(Refused::Replayed));
        assert_eq!(window.check(3), Ok(()), "earlier, never seen");
    }

    #[test]
    fn every_number_once_in_any_order_within_the_window() {
        let mut window = ReplayWindow::default();
        // A shuffled order (a fixed permutation) of 0..512 with bounded lateness.
        let mut order: Vec<u64> = (0..512).collect();
        for chunk in order.chunks_mut(64) {
            chunk.reverse();
        }
        for seq in &order {
            assert_eq!(take(&mut window, *seq), Ok(()), "{seq}");
        }
        for seq in 512 - WINDOW..512 {
            assert_eq!(take(&mut window, seq), Err(Refused::Replayed), "{seq}");
        }
    }
}
