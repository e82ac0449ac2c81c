//! Watching a kind the way the panes need it: kube's watcher lists once and
//! then watches, and after a broken connection it resumes the watch from the
//! last resourceVersion without a word. A quiet resource then sends nothing
//! at all, and a pane that showed "disconnected" would never learn the
//! connection is back. So after an error this watcher starts over, with
//! back-off: a fresh list proves the connection and replaces what the pane
//! holds. At steady state it is still one list, then watches only.

use std::fmt::Debug;

use futures::{Stream, StreamExt};
use kube::Api;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;

use super::backoff::Backoff;

pub fn relisting<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    async_stream::stream! {
        let mut backoff = Backoff::default();
        loop {
            let mut events = watcher::watcher(api.clone(), config.clone()).boxed();
            while let Some(event) = events.next().await {
                let failed = event.is_err();
                if matches!(event, Ok(Event::InitDone)) {
                    backoff.reset();
                }
                yield event;
                if failed {
                    break;
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}
