//! The log ring: every pod's lines merged in time order, bounded, compact.
//!
//! A line is kept as its cleaned text plus a few small ids; styling happens
//! only for the lines on screen. Positions are sequence numbers that survive
//! eviction, so a paused view or a search hit stays put while new lines arrive.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use super::logtext;
use super::msg::LogLine;
use crate::sanitize;

pub const DEFAULT_CAPACITY: usize = 100_000;
/// How far back a late line may be slotted in among newer ones.
const REORDER_WINDOW: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Line,
    ErrorLine,
    /// The first line of a pod not seen (or gone) before.
    Joined,
    /// The pod's stream ended: the pod is gone.
    Gone,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub at_ms: i64,
    pub pod: u32,
    pub version: u16,
    pub kind: EntryKind,
    pub text: Box<str>,
    /// `logtext::pair_signature` of the text, so a search skips most lines unread.
    pub pairs: u64,
}

impl Entry {
    pub fn at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.at_ms)
    }

    pub fn is_marker(&self) -> bool {
        matches!(self.kind, EntryKind::Joined | EntryKind::Gone)
    }
}

/// Small ids for strings that repeat on every line.
#[derive(Debug, Default, Clone)]
struct Interner {
    names: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", |n| n)
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }
}

#[derive(Debug, Clone)]
pub struct Logs {
    ring: VecDeque<Entry>,
    capacity: usize,
    /// Sequence number of `ring[0]`.
    first_seq: u64,
    pods: Interner,
    versions: Interner,
    live: Vec<bool>,
    pub follow: bool,
    pub wrap: bool,
    pub timestamps: bool,
    pub version_filter: Option<u16>,
    pub pod_filter: Option<u32>,
    /// Bottom line of a paused view.
    anchor: Option<u64>,
    pub search: Option<String>,
    /// `logtext::pair_signature` of `search`; 0, which rules out no line,
    /// when `search` was set without `submit_search`.
    search_pairs: u64,
    /// The search being typed, when the input is open.
    pub search_input: Option<String>,
    current_match: Option<u64>,
    /// A short remark for the pane's title ("no more matches").
    pub notice: Option<String>,
    /// Lines that arrived while paused.
    pub unseen: u64,
    pub evicted: u64,
}

impl Default for Logs {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl Logs {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            ring: VecDeque::new(),
            capacity: capacity.max(1),
            first_seq: 0,
            pods: Interner::default(),
            versions: Interner::default(),
            live: Vec::new(),
            follow: true,
            wrap: false,
            timestamps: true,
            version_filter: None,
            pod_filter: None,
            anchor: None,
            search: None,
            search_pairs: 0,
            search_input: None,
            current_match: None,
            notice: None,
            unseen: 0,
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn pod_name(&self, id: u32) -> &str {
        self.pods.name(id)
    }

    pub fn version_name(&self, id: u16) -> &str {
        self.versions.name(u32::from(id))
    }

    pub fn current_match(&self) -> Option<u64> {
        self.current_match
    }

    pub fn get(&self, seq: u64) -> Option<&Entry> {
        let index = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        self.ring.get(index)
    }

    pub fn ingest(&mut self, lines: Vec<LogLine>) {
        for line in lines {
            self.push(&line);
        }
    }

    fn push(&mut self, line: &LogLine) {
        let pod = self.pods.intern(&sanitize::clean(&line.pod));
        let version = self.versions.intern(&sanitize::clean(&line.version)) as u16;
        let at_ms = line.at.timestamp_millis();
        let pod_index = pod as usize;
        if self.live.len() <= pod_index {
            self.live.resize(pod_index + 1, false);
        }
        if !self.live[pod_index] {
            self.live[pod_index] = true;
            self.insert(Entry {
                at_ms,
                pod,
                version,
                kind: EntryKind::Joined,
                text: "".into(),
                pairs: 0,
            });
        }
        let text = sanitize::clean(&line.text);
        let kind = if logtext::is_error(&text) {
            EntryKind::ErrorLine
        } else {
            EntryKind::Line
        };
        self.insert(Entry {
            at_ms,
            pod,
            version,
            kind,
            pairs: logtext::pair_signature(&text),
            text: text.into(),
        });
    }

    /// Marks a pod's stream as ended. Returns whether the pod was known.
    pub fn pod_gone(&mut self, pod: &str, at: DateTime<Utc>) -> bool {
        let Some(id) = self.pods.get(&sanitize::clean(pod)) else {
            return false;
        };
        if !self.live.get(id as usize).copied().unwrap_or(false) {
            return false;
        }
        self.live[id as usize] = false;
        let version = self
            .ring
            .iter()
            .rev()
            .find(|e| e.pod == id)
            .map_or(0, |e| e.version);
        let at_ms = at
            .timestamp_millis()
            .max(self.ring.back().map_or(i64::MIN, |e| e.at_ms));
        self.insert(Entry {
            at_ms,
            pod: id,
            version,
            kind: EntryKind::Gone,
            text: "".into(),
            pairs: 0,
        });
        true
    }

    fn insert(&mut self, entry: Entry) {
        // Most lines arrive in order; a late one is slotted in among the recent ones.
        let mut index = self.ring.len();
        let floor = self.ring.len().saturating_sub(REORDER_WINDOW);
        while index > floor && self.ring[index - 1].at_ms > entry.at_ms {
            index -= 1;
        }
        let seq = self.first_seq + index as u64;
        if index < self.ring.len() {
            for pos in [&mut self.anchor, &mut self.current_match]
                .into_iter()
                .flatten()
            {
                if *pos >= seq {
                    *pos += 1;
                }
            }
        }
        self.ring.insert(index, entry);
        if !self.follow {
            self.unseen += 1;
        }
        while self.ring.len() > self.capacity {
            self.ring.pop_front();
            self.first_seq += 1;
            self.evicted += 1;
        }
        for pos in [&mut self.anchor, &mut self.current_match]
            .into_iter()
            .flatten()
        {
            *pos = (*pos).max(self.first_seq);
        }
    }

    fn end_seq(&self) -> u64 {
        self.first_seq + self.ring.len() as u64
    }

    pub fn passes_filters(&self, entry: &Entry) -> bool {
        self.version_filter.is_none_or(|v| v == entry.version)
            && self.pod_filter.is_none_or(|p| p == entry.pod)
    }

    /// Sequence numbers of lines shown under the filters, newest first, from `before` (exclusive).
    fn shown_before(&self, before: u64) -> impl Iterator<Item = u64> + '_ {
        let end = before.min(self.end_seq()).saturating_sub(self.first_seq) as usize;
        self.ring
            .range(..end)
            .enumerate()
            .rev()
            .filter(|(_, e)| self.passes_filters(e))
            .map(|(i, _)| self.first_seq + i as u64)
    }

    /// Sequence numbers of shown lines, oldest first, from `after` (exclusive).
    fn shown_after(&self, after: Option<u64>) -> impl Iterator<Item = u64> + '_ {
        let start = after.map_or(0, |a| (a + 1).saturating_sub(self.first_seq) as usize);
        let start = start.min(self.ring.len());
        self.ring
            .range(start..)
            .enumerate()
            .filter(|(_, e)| self.passes_filters(e))
            .map(move |(i, _)| self.first_seq + (start + i) as u64)
    }

    /// The bottom line of the view: the anchor when paused, the newest line when following.
    fn bottom(&self) -> Option<u64> {
        if self.follow {
            self.shown_before(u64::MAX).next()
        } else {
            self.anchor
        }
    }

    /// The lines to draw, oldest first, filling `rows` rows where `height` tells
    /// how many rows a line takes.
    pub fn window(&self, rows: usize, height: impl Fn(&Entry) -> usize) -> Vec<(u64, &Entry)> {
        let Some(bottom) = self.bottom() else {
            return Vec::new();
        };
        let mut used = 0;
        let mut picked: Vec<u64> = Vec::new();
        for seq in self.shown_before(bottom + 1) {
            let Some(e) = self.get(seq) else { continue };
            if used >= rows {
                break;
            }
            used += height(e).max(1);
            picked.push(seq);
        }
        picked.reverse();
        // Near the top of the ring the view is filled downwards instead.
        if used < rows {
            for seq in self.shown_after(Some(bottom)) {
                let Some(e) = self.get(seq) else { continue };
                if used >= rows {
                    break;
                }
                used += height(e).max(1);
                picked.push(seq);
            }
        }
        picked
            .into_iter()
            .filter_map(|s| self.get(s).map(|e| (s, e)))
            .collect()
    }

    pub fn set_follow(&mut self, follow: bool) {
        self.follow = follow;
        if follow {
            self.anchor = None;
            self.unseen = 0;
        } else if self.anchor.is_none() {
            let newest = self.shown_before(u64::MAX).next();
            self.anchor = newest;
        }
    }

    fn pause_at(&mut self, seq: u64) {
        self.follow = false;
        self.anchor = Some(seq);
    }

    pub fn scroll_up(&mut self, lines: usize) {
        let Some(bottom) = self.bottom() else { return };
        let target = self
            .shown_before(bottom)
            .take(lines)
            .last()
            .unwrap_or(bottom);
        self.pause_at(target);
    }

    pub fn scroll_down(&mut self, lines: usize) {
        if self.follow {
            return;
        }
        let Some(bottom) = self.bottom() else { return };
        let (target, more) = {
            let mut after = self.shown_after(Some(bottom));
            let target = after.nth(lines.saturating_sub(1));
            (target, after.next().is_some())
        };
        match target {
            Some(seq) if more => self.anchor = Some(seq),
            _ => self.set_follow(true),
        }
    }

    pub fn scroll_top(&mut self) {
        let first = self.shown_after(None).next();
        if let Some(first) = first {
            self.pause_at(first);
        }
    }

    pub fn scroll_bottom(&mut self) {
        self.set_follow(true);
    }

    fn known_versions(&self) -> Vec<u16> {
        (0..self.versions.names.len() as u16).collect()
    }

    /// all → each version in turn → all.
    pub fn cycle_version_filter(&mut self) {
        let versions = self.known_versions();
        self.version_filter = next_in_cycle(&versions, self.version_filter);
        self.after_filter_change();
    }

    /// all → each pod by name → all.
    pub fn cycle_pod_filter(&mut self) {
        let mut pods: Vec<u32> = (0..self.pods.names.len() as u32).collect();
        pods.sort_by(|a, b| self.pods.name(*a).cmp(self.pods.name(*b)));
        self.pod_filter = next_in_cycle(&pods, self.pod_filter);
        self.after_filter_change();
    }

    pub fn clear_filters(&mut self) {
        self.version_filter = None;
        self.pod_filter = None;
        self.search = None;
        self.search_pairs = 0;
        self.current_match = None;
        self.notice = None;
        self.after_filter_change();
    }

    fn after_filter_change(&mut self) {
        // The paused line may be hidden now: keep the nearest shown line at or above it.
        if let Some(anchor) = self.anchor {
            let above = self.shown_before(anchor + 1).next();
            let below = self.shown_after(Some(anchor)).next();
            self.anchor = above.or(below);
        }
    }

    pub fn open_search(&mut self) {
        self.search_input = Some(String::new());
    }

    pub fn type_char(&mut self, c: char) {
        if let Some(input) = &mut self.search_input
            && !c.is_control()
        {
            input.push(c);
        }
    }

    pub fn delete_char(&mut self) {
        if let Some(input) = &mut self.search_input {
            input.pop();
        }
    }

    pub fn cancel_search(&mut self) {
        self.search_input = None;
    }

    /// Runs the typed search: jumps to the newest match at or above the view.
    pub fn submit_search(&mut self) {
        let Some(query) = self.search_input.take() else {
            return;
        };
        if query.is_empty() {
            self.search = None;
            self.current_match = None;
            return;
        }
        self.search_pairs = logtext::pair_signature(&query);
        self.search = Some(query);
        let from = self.bottom().map_or(u64::MAX, |b| b + 1);
        let hit = self.shown_before(from).find(|s| self.matches_search(*s));
        self.land_on(hit, "no match");
    }

    fn matches_search(&self, seq: u64) -> bool {
        let (Some(query), Some(entry)) = (&self.search, self.get(seq)) else {
            return false;
        };
        if entry.is_marker() {
            return logtext::contains_ignore_ascii_case(self.pod_name(entry.pod), query);
        }
        logtext::may_contain(entry.pairs, self.search_pairs)
            && logtext::contains_ignore_ascii_case(&entry.text, query)
    }

    /// Next match below (newer than) the current one.
    pub fn search_next(&mut self) {
        if self.search.is_none() {
            return;
        }
        let from = self.current_match.or(self.bottom());
        let hit = self.shown_after(from).find(|s| self.matches_search(*s));
        self.land_on(hit, "no later match");
    }

    /// Previous match above (older than) the current one.
    pub fn search_prev(&mut self) {
        if self.search.is_none() {
            return;
        }
        let from = self
            .current_match
            .or(self.bottom().map(|b| b + 1))
            .unwrap_or(u64::MAX);
        let hit = self.shown_before(from).find(|s| self.matches_search(*s));
        self.land_on(hit, "no earlier match");
    }

    /// Jumps to the newest error when following, else to the next older one.
    pub fn next_error(&mut self) {
        let from = if self.follow {
            u64::MAX
        } else {
            self.current_match.or(self.anchor).unwrap_or(u64::MAX)
        };
        let hit = self
            .shown_before(from)
            .find(|s| self.get(*s).is_some_and(|e| e.kind == EntryKind::ErrorLine));
        self.land_on(hit, "no earlier error");
    }

    fn land_on(&mut self, hit: Option<u64>, miss: &str) {
        match hit {
            Some(seq) => {
                self.current_match = Some(seq);
                self.notice = None;
                self.pause_at(seq);
            }
            None => self.notice = Some(miss.to_string()),
        }
    }

    pub fn filter_label(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(v) = self.version_filter {
            parts.push(self.version_name(v).to_string());
        }
        if let Some(p) = self.pod_filter {
            parts.push(self.pod_name(p).to_string());
        }
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
}

fn next_in_cycle<T: Copy + PartialEq>(items: &[T], current: Option<T>) -> Option<T> {
    match current {
        None => items.first().copied(),
        Some(c) => {
            let pos = items.iter().position(|i| *i == c)?;
            items.get(pos + 1).copied()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn line(sec: i64, pod: &str, version: &str, text: &str) -> LogLine {
        LogLine {
            at: Utc.timestamp_opt(1_700_000_000 + sec, 0).unwrap(),
            pod: pod.into(),
            container: "app".into(),
            version: version.into(),
            text: text.into(),
        }
    }

    fn texts(logs: &Logs, rows: usize) -> Vec<String> {
        logs.window(rows, |_| 1)
            .into_iter()
            .map(|(_, e)| match e.kind {
                EntryKind::Joined => format!("+{}", logs.pod_name(e.pod)),
                EntryKind::Gone => format!("-{}", logs.pod_name(e.pod)),
                _ => e.text.to_string(),
            })
            .collect()
    }

    #[test]
    fn lines_are_merged_in_time_order_with_join_markers() {
        let mut logs = Logs::default();
        logs.ingest(vec![
            line(1, "a", "stable", "a1"),
            line(3, "a", "stable", "a3"),
        ]);
        logs.ingest(vec![line(2, "b", "canary", "b2")]);
        assert_eq!(texts(&logs, 10), ["+a", "a1", "+b", "b2", "a3"]);
    }

    #[test]
    fn an_entry_stays_compact() {
        // 1,000,000 lines must fit the memory budget: the text plus 40 bytes
        // each (32 for the line, 8 for the search signature).
        assert!(
            std::mem::size_of::<Entry>() <= 40,
            "{}",
            std::mem::size_of::<Entry>()
        );
    }

    #[test]
    fn ring_is_bounded() {
        let mut logs = Logs::with_capacity(100);
        logs.ingest(
            (0..1000)
                .map(|i| line(i, "a", "stable", &format!("l{i}")))
                .collect(),
        );
        assert_eq!(logs.len(), 100);
        assert_eq!(texts(&logs, 1), ["l999"]);
        assert_eq!(logs.evicted, 901);
    }

    #[test]
    fn gone_pod_is_marked_and_rejoins() {
        let mut logs = Logs::default();
        logs.ingest(vec![line(1, "a", "stable", "a1")]);
        assert!(logs.pod_gone("a", Utc.timestamp_opt(1_700_000_002, 0).unwrap()));
        assert!(!logs.pod_gone("a", Utc.timestamp_opt(1_700_000_003, 0).unwrap()));
        logs.ingest(vec![line(4, "a", "stable", "a4")]);
        assert_eq!(texts(&logs, 10), ["+a", "a1", "-a", "+a", "a4"]);
    }

    #[test]
    fn text_is_cleaned_on_the_way_in() {
        let mut logs = Logs::default();
        logs.ingest(vec![line(
            1,
            "a\u{1b}[2J",
            "stable",
            "hi\u{1b}]52;c;Zm9v\u{7}",
        )]);
        assert_eq!(texts(&logs, 10), ["+a", "hi"]);
    }

    #[test]
    fn paused_view_stays_while_lines_arrive() {
        let mut logs = Logs::default();
        logs.ingest(
            (0..10)
                .map(|i| line(i, "a", "stable", &format!("l{i}")))
                .collect(),
        );
        logs.set_follow(false);
        logs.ingest(vec![line(20, "a", "stable", "new")]);
        assert_eq!(texts(&logs, 2), ["l8", "l9"]);
        assert_eq!(logs.unseen, 1);
        logs.set_follow(true);
        assert_eq!(texts(&logs, 2), ["l9", "new"]);
    }

    #[test]
    fn filters_cycle_and_hide_other_lines() {
        let mut logs = Logs::default();
        logs.ingest(vec![
            line(1, "a", "stable", "s"),
            line(2, "b", "canary", "c"),
        ]);
        logs.cycle_version_filter();
        assert_eq!(logs.filter_label().as_deref(), Some("stable"));
        assert_eq!(texts(&logs, 10), ["+a", "s"]);
        logs.cycle_version_filter();
        assert_eq!(texts(&logs, 10), ["+b", "c"]);
        logs.cycle_version_filter();
        assert_eq!(logs.version_filter, None);
        logs.cycle_pod_filter();
        assert_eq!(logs.filter_label().as_deref(), Some("a"));
        logs.clear_filters();
        assert_eq!(texts(&logs, 10).len(), 4);
    }

    #[test]
    fn search_moves_between_matches() {
        let mut logs = Logs::default();
        let texts_in = [
            "GET /cart",
            "GET /pay",
            "GET /cart 2",
            "noise",
            "GET /cart 3",
            "tail",
        ];
        logs.ingest(
            texts_in
                .iter()
                .enumerate()
                .map(|(i, t)| line(i as i64, "a", "stable", t))
                .collect(),
        );
        logs.open_search();
        for c in "CART".chars() {
            logs.type_char(c);
        }
        logs.submit_search();
        let at = |logs: &Logs| {
            logs.get(logs.current_match().unwrap())
                .unwrap()
                .text
                .to_string()
        };
        assert_eq!(at(&logs), "GET /cart 3");
        assert!(!logs.follow);
        logs.search_prev();
        assert_eq!(at(&logs), "GET /cart 2");
        logs.search_prev();
        assert_eq!(at(&logs), "GET /cart");
        logs.search_prev();
        assert_eq!(logs.notice.as_deref(), Some("no earlier match"));
        assert_eq!(at(&logs), "GET /cart");
        logs.search_next();
        assert_eq!(at(&logs), "GET /cart 2");
    }

    #[test]
    fn next_error_walks_back_through_errors() {
        let mut logs = Logs::default();
        logs.ingest(vec![
            line(1, "a", "canary", "status=503"),
            line(2, "a", "canary", "ok"),
            line(3, "a", "canary", "level=error msg=x"),
            line(4, "a", "canary", "ok"),
        ]);
        logs.next_error();
        assert_eq!(
            &*logs.get(logs.current_match().unwrap()).unwrap().text,
            "level=error msg=x"
        );
        logs.next_error();
        assert_eq!(
            &*logs.get(logs.current_match().unwrap()).unwrap().text,
            "status=503"
        );
        logs.next_error();
        assert_eq!(logs.notice.as_deref(), Some("no earlier error"));
    }

    #[test]
    fn scrolling_pauses_and_bottom_resumes_follow() {
        let mut logs = Logs::default();
        logs.ingest(
            (0..10)
                .map(|i| line(i, "a", "stable", &format!("l{i}")))
                .collect(),
        );
        logs.scroll_up(3);
        assert!(!logs.follow);
        assert_eq!(texts(&logs, 1), ["l6"]);
        logs.scroll_down(1);
        assert_eq!(texts(&logs, 1), ["l7"]);
        logs.scroll_down(5);
        assert!(logs.follow);
        logs.scroll_top();
        assert_eq!(texts(&logs, 2), ["+a", "l0"]);
    }
}
