//! Argon2id password hashing on a small, fixed pool of threads.
//!
//! Each hash or check uses 19 MiB (the argon2 crate's defaults: m=19 MiB, t=2, p=1). Run on
//! ever-new blocking threads, the allocator kept one such buffer per thread: the chat benchmark
//! measured 1.86 GB of server RSS after 200 logins. A fixed pool bounds both the memory and the
//! CPU that hashing may take, which also blunts floods of login attempts: they queue here.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The pool stopped or a hash could not be made; nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing is unavailable")]
pub struct HashingUnavailable;

/// Handle to the hashing threads; they stop when it is dropped.
#[derive(Debug)]
pub struct Passwords {
    jobs: mpsc::Sender<Job>,
}

impl Passwords {
    /// Starts `threads` hashing threads (at least one).
    pub fn new(threads: usize) -> Passwords {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{index}")).spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                match next {
                    Ok(job) => job(),
                    Err(_) => break,
                }
            });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password hashing thread");
            }
        }
        Passwords { jobs }
    }

    /// One thread per core, at most four.
    pub fn for_this_machine() -> Passwords {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Passwords::new(cores.min(4))
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashingUnavailable> {
        let (reply, outcome) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(work());
        });
        self.jobs.send(job).map_err(|_| HashingUnavailable)?;
        outcome.await.map_err(|_| HashingUnavailable)
    }

    /// An Argon2id PHC string for `password` with a random salt.
    pub async fn hash(&self, password: String) -> Result<String, HashingUnavailable> {
        let salt = SaltString::encode_b64(&crate::random::random_bytes::<16>()).map_err(|_| HashingUnavailable)?;
        self.run(move || Argon2::default().hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string()))
            .await?
            .map_err(|_| HashingUnavailable)
    }

    /// Whether `password` matches the stored `hash` (false for a malformed hash).
    pub async fn verify(&self, password: String, hash: String) -> bool {
        self.run(move || {
            PasswordHash::new(&hash)
                .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let passwords = Passwords::new(2);
        let first = passwords.hash("correct horse".into()).await.expect("hashes");
        let second = passwords.hash("correct horse".into()).await.expect("hashes");
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert_ne!(first, second, "salted");
        assert!(passwords.verify("correct horse".into(), first.clone()).await);
        assert!(!passwords.verify("wrong horse".into(), first).await);
        assert!(!passwords.verify("x".into(), "not a hash".into()).await);
    }

    #[tokio::test]
    async fn many_concurrent_checks_all_finish_on_a_small_pool() {
        let passwords = Arc::new(Passwords::new(1));
        let hash = passwords.hash("pw-pw-pw-pw".into()).await.expect("hashes");
        let checks: Vec<_> = (0..6)
            .map(|i| {
                let (passwords, hash) = (passwords.clone(), hash.clone());
                tokio::spawn(async move {
                    passwords.verify(if i % 2 == 0 { "pw-pw-pw-pw" } else { "nope" }.into(), hash).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for check in checks {
            results.push(check.await.expect("joins"));
        }
        assert_eq!(results, [true, false, true, false, true, false]);
    }
}
