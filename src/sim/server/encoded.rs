//! Stored objects as JSON, written once per version and shared by every list
//! and watch that sends them, as kube-apiserver's watch cache serializes an
//! object once for all its watchers.
//!
//! A stored object is an immutable `Arc`: a new version is a new `Arc`, so the
//! `Arc`'s address names one version. The cache keeps a `Weak` beside each
//! encoding; while it is held the allocation cannot be reused for another
//! object, and once the version is gone from the store and from every change
//! in flight the entry is swept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use axum::body::Bytes;
use serde_json::Value;

/// Entries kept before the first sweep of dead versions.
const FIRST_SWEEP: usize = 4_096;

#[derive(Default)]
pub struct Encoded {
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    by_object: HashMap<usize, (Weak<Value>, Bytes)>,
    /// Size at which dead entries are swept next.
    sweep_at: usize,
}

impl Encoded {
    /// The cache, locked: hold it for one list or one event.
    pub fn lock(&self) -> Locked<'_> {
        Locked(
            self.cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

pub struct Locked<'a>(MutexGuard<'a, Cache>);

impl Locked<'_> {
    /// `object` as compact JSON, exactly as `serde_json` writes it.
    pub fn json(&mut self, object: &Arc<Value>) -> Bytes {
        let key = Arc::as_ptr(object) as usize;
        if let Some((held, bytes)) = self.0.by_object.get(&key)
            && held.upgrade().is_some_and(|o| Arc::ptr_eq(&o, object))
        {
            return bytes.clone();
        }
        let bytes = Bytes::from(serde_json::to_vec(object.as_ref()).unwrap_or_default());
        let cache = &mut *self.0;
        cache
            .by_object
            .insert(key, (Arc::downgrade(object), bytes.clone()));
        if cache.by_object.len() >= cache.sweep_at.max(FIRST_SWEEP) {
            cache
                .by_object
                .retain(|_, (held, _)| held.strong_count() > 0);
            cache.sweep_at = cache.by_object.len() * 2;
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_version_is_written_once_and_a_new_one_again() {
        let cache = Encoded::default();
        let first = Arc::new(json!({"metadata": {"name": "a", "resourceVersion": "1"}}));
        let a = cache.lock().json(&first);
        let again = cache.lock().json(&first);
        assert_eq!(a, serde_json::to_vec(first.as_ref()).unwrap());
        // The same buffer, not a second encoding.
        assert_eq!(a.as_ptr(), again.as_ptr());
        let second = Arc::new(json!({"metadata": {"name": "a", "resourceVersion": "2"}}));
        assert_eq!(
            cache.lock().json(&second),
            serde_json::to_vec(second.as_ref()).unwrap()
        );
    }

    #[test]
    fn dropped_versions_are_swept() {
        let cache = Encoded::default();
        let kept = Arc::new(json!({"kept": true}));
        cache.lock().json(&kept);
        for i in 0..FIRST_SWEEP * 3 {
            let gone = Arc::new(json!({ "n": i }));
            cache.lock().json(&gone);
        }
        let entries = cache.lock().0.by_object.len();
        assert!(entries < FIRST_SWEEP * 2, "{entries} entries kept");
        assert_eq!(
            cache.lock().json(&kept),
            serde_json::to_vec(kept.as_ref()).unwrap()
        );
    }
}
