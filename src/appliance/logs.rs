//! The recent log lines the dashboard shows: a `tracing_subscriber` writer into a bounded buffer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Log lines kept for the dashboard.
const LOG_LINES: usize = 200;

/// The most recent log lines, shared; a `tracing_subscriber` writer (one line per event).
#[derive(Debug, Clone, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl LogBuffer {
    /// The kept lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

/// One event being written; becomes a line when dropped.
#[derive(Debug)]
pub struct LogLine {
    buffer: LogBuffer,
    bytes: Vec<u8>,
}

impl std::io::Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.bytes);
        let mut lines = self.buffer.lines.lock().unwrap_or_else(|p| p.into_inner());
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            if lines.len() == LOG_LINES {
                lines.pop_front();
            }
            lines.push_back(line.to_string());
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine { buffer: self.clone(), bytes: Vec::new() }
    }
}
