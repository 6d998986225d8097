//! The only generalisations `rampart learn` makes, each narrow enough to be
//! safe and each reported with what it covers:
//!
//! 1. **Random names in temp dirs.** Inside `/tmp`, `/var/tmp` and
//!    `/dev/shm`, a name part that looks random becomes `*`, keeping the
//!    rest of the name (`/tmp/tmpa8f3k2.json` → `/tmp/*.json`,
//!    `/tmp/pip-build-a8f3k2x9` → `/tmp/pip-build-*`). See [`random_part`]
//!    for what "looks random" means; words with digits (`report2024`,
//!    `log4j2`, `utf8mb4`) do not.
//! 2. **Numbered files.** Two or more paths in one directory whose last
//!    segments differ only in one run of digits (`part-0001.csv`,
//!    `part-0002.csv`) become one glob (`part-*.csv`). One numbered file
//!    stays literal; a name with nothing before the digits (`1.csv`) stays
//!    literal too, since `*.csv` would allow every csv there.
//! 3. **Process ids in temp names.** Inside the temp dirs, a name that has
//!    the pid of the process that used it as a word (the event line's
//!    `pid`: `/tmp/hsperfdata_root/4242`, .NET's
//!    `/tmp/clr-debug-pipe-4242-8519137-in`) has every all-digit word of
//!    that name replaced by `*`: the next process has another pid.
//! 4. **Ephemeral local ports.** A connection to a loopback address
//!    (`127.0.0.0/8`, `::1`, or the name `localhost`) on a port in Linux's
//!    ephemeral range 32768–60999 becomes that address with the range.
//!
//! Nothing here ever produces `**`, a wildcard in the first path segment,
//! or a wildcard host.

/// Directories whose direct and deeper children get random-name treatment.
pub const TEMP_DIRS: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];

/// Linux's default `net.ipv4.ip_local_port_range`.
pub const EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);

/// The path (a glob text) with, in each temp-dir segment that has `pid` as
/// one of its words (runs of letters and digits between other characters:
/// `4242` in `pipe-4242-77-in`, not in `tmpa4242x`), every all-digit word
/// replaced by `*`; `None` when no segment has it.
pub fn pid_glob(path: &str, pid: u32) -> Option<String> {
    let root = TEMP_DIRS.iter().find(|d| path.strip_prefix(**d).is_some_and(|rest| rest.starts_with('/')))?;
    let pid = pid.to_string();
    let mut out = String::with_capacity(path.len());
    out.push_str(root);
    let mut changed = false;
    for seg in path[root.len()..].split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        let words = || seg.split(|c: char| !c.is_ascii_alphanumeric());
        if !words().any(|w| w == pid) {
            out.push_str(seg);
            continue;
        }
        changed = true;
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
                out.push('*');
            } else {
                out.push_str(word);
            }
            word.clear();
        };
        for c in seg.chars() {
            if c.is_ascii_alphanumeric() {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
    }
    changed.then_some(out)
}

/// The path (a glob text: the caller has replaced any `*`/`?` in it) with
/// random-looking name parts inside a temp dir replaced by `*`; `None` when
/// nothing was replaced.
pub fn temp_glob(path: &str) -> Option<String> {
    let root = TEMP_DIRS.iter().find(|d| path.strip_prefix(**d).is_some_and(|rest| rest.starts_with('/')))?;
    let rest = &path[root.len()..];
    let mut out = String::with_capacity(path.len());
    out.push_str(root);
    let mut changed = false;
    for seg in rest.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        match random_part(seg) {
            Some(glob) => {
                out.push_str(&glob);
                changed = true;
            }
            None => out.push_str(seg),
        }
    }
    changed.then_some(out)
}

/// The segment with its random-looking parts replaced by `*`, or `None`
/// when no part looks random.
///
/// A segment is cut into words, runs of `[A-Za-z0-9_]` between other
/// characters (`.`, `-`, `+`, ...). A part is random when it is:
/// - a UUID (`8-4-4-4-12` hex digits, dashes included);
/// - a word like Python's `tempfile` names: `tmp` then 8 of `[a-z0-9_]`
///   with a digit (`tmp7hq0_vzr`, `tmpk3x9q2ab` — not `tmpbackup12`),
///   or 6 to 7 with letters and digits mixed (`tmpa8f3k2`, `tmpzz91qx` —
///   not `tmp_data_01`);
/// - inside a word (split at `_`), a piece of 8 or more hex digits with
///   both digits and letters (`a1b2c3d4`, `5f0c9e1a7b`);
/// - or a piece of 6 or more letters and digits, mkstemp style
///   (`Ab3xZq`, `a8f3k2x9`), that has both letters and digits, changes
///   between lower case, upper case and digits at least 3 times (4 when
///   shorter than 8), has no run of more than 4 letters of one case, and is
///   not made of whole words (`Win32Api`, `utf8mb4`, `v2beta1`: each letter
///   run of two or more letters, capitalised or not).
pub fn random_part(seg: &str) -> Option<String> {
    let bytes = seg.as_bytes();
    let mut out = String::with_capacity(seg.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(n) = uuid_at(bytes, i) {
            push_star(&mut out);
            changed = true;
            i += n;
            continue;
        }
        let c = bytes[i];
        if !is_word_byte(c) {
            // Separators (and any non-ASCII byte) are kept as they are.
            let ch_len = seg[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&seg[i..i + ch_len]);
            i += ch_len;
            continue;
        }
        let end = bytes[i..].iter().position(|&b| !is_word_byte(b)).map_or(bytes.len(), |n| i + n);
        let word = &seg[i..end];
        if python_tmp_name(word) {
            push_star(&mut out);
            changed = true;
        } else {
            for (k, piece) in word.split('_').enumerate() {
                if k > 0 {
                    out.push('_');
                }
                if random_piece(piece) {
                    push_star(&mut out);
                    changed = true;
                } else {
                    out.push_str(piece);
                }
            }
        }
        i = end;
    }
    changed.then_some(out)
}

fn push_star(out: &mut String) {
    // `**` would mean something else (and is not allowed inside a segment).
    if !out.ends_with('*') {
        out.push('*');
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A UUID starting at `i` (on a word boundary): its length.
fn uuid_at(bytes: &[u8], i: usize) -> Option<usize> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    if i > 0 && bytes.get(i - 1).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let mut at = i;
    for (k, len) in GROUPS.into_iter().enumerate() {
        if k > 0 {
            if bytes.get(at) != Some(&b'-') {
                return None;
            }
            at += 1;
        }
        let group = bytes.get(at..at + len)?;
        if !group.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        at += len;
    }
    if bytes.get(at).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some(at - i)
}

/// Python's `tempfile` names: `tmp` + 8 random characters of `[a-z0-9_]`.
/// With exactly 8, a digit is enough, unless the 8 read as a word and a
/// number (`tmpbackup12`, `tmp_data_01`): this finds about 86% of real
/// names (the rest stay literal: a missed name costs a rule, a wrong
/// guess would widen one). With 6 or 7 (shorter hand-made
/// names), letters and digits must be mixed (not all digits at one end).
fn python_tmp_name(word: &str) -> bool {
    let Some(rest) = word.strip_prefix("tmp") else { return false };
    let b = rest.as_bytes();
    if !b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') {
        return false;
    }
    let trimmed = &b[b.iter().take_while(|&&c| c == b'_').count()..];
    let letters_first = trimmed.iter().take_while(|c| c.is_ascii_lowercase()).count();
    let word_then_number =
        letters_first >= 4 && trimmed[letters_first..].iter().all(|&c| c.is_ascii_digit() || c == b'_');
    let alnum: Vec<u8> = b.iter().copied().filter(|&c| c != b'_').collect();
    match b.len() {
        8 => b.iter().any(u8::is_ascii_digit) && !word_then_number && max_run(b, u8::is_ascii_lowercase) <= 6,
        6 | 7 => {
            b.iter().any(u8::is_ascii_digit)
                && transitions(&alnum, |c| u8::from(c.is_ascii_digit())) >= 2
                && max_run(b, u8::is_ascii_lowercase) <= 5
        }
        _ => false,
    }
}

/// Hex of 8+ with digits and letters, or mkstemp-style letters and digits.
fn random_piece(piece: &str) -> bool {
    let b = piece.as_bytes();
    if b.len() < 6 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let has_digit = b.iter().any(u8::is_ascii_digit);
    let has_alpha = b.iter().any(u8::is_ascii_alphabetic);
    if !(has_digit && has_alpha) {
        return false;
    }
    if b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    let needed = if b.len() >= 8 { 3 } else { 4 };
    transitions(b, |c| match c {
        b'0'..=b'9' => 0,
        b'a'..=b'z' => 1,
        _ => 2,
    }) >= needed
        && max_run(b, u8::is_ascii_lowercase) <= 4
        && max_run(b, u8::is_ascii_uppercase) <= 4
        && !made_of_words(b)
}

/// How many times the class changes between neighbours.
fn transitions(b: &[u8], class: impl Fn(u8) -> u8) -> usize {
    b.windows(2).filter(|w| class(w[0]) != class(w[1])).count()
}

fn max_run(b: &[u8], pred: impl Fn(&u8) -> bool) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in b {
        cur = if pred(c) { cur + 1 } else { 0 };
        best = best.max(cur);
    }
    best
}

/// True when the letters split into words of two or more letters: runs
/// between digits, cut before each capital that follows a lower-case
/// letter and before the last capital of a run of three or more capitals
/// followed by lower case (`Win32Api` → Win, Api; `HTTPServer2` → HTTP,
/// Server; `IPv4Addr` → IPv, Addr). One lower-case letter before a capital
/// at the start is a word too (`iPhone12`, `eBay2024`).
fn made_of_words(b: &[u8]) -> bool {
    let mut len = 0usize;
    let mut upper_run = 0usize;
    for (i, &c) in b.iter().enumerate() {
        if !c.is_ascii_alphabetic() {
            if len == 1 {
                return false;
            }
            len = 0;
            upper_run = 0;
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| b.get(p)).copied();
        let next = b.get(i + 1).copied();
        let starts_word = c.is_ascii_uppercase()
            && (prev.is_some_and(|p| p.is_ascii_lowercase())
                || (upper_run >= 2 && next.is_some_and(|n| n.is_ascii_lowercase())));
        if starts_word && len > 0 {
            // `iPhone`: a lone lower-case letter starting the name.
            if len == 1 && !(i == 1 && prev.is_some_and(|p| p.is_ascii_lowercase())) {
                return false;
            }
            len = 0;
        }
        upper_run = if c.is_ascii_uppercase() { upper_run + 1 } else { 0 };
        len += 1;
    }
    len != 1
}

/// For numbered files: each way to see the last segment of `path` as
/// `PREFIX DIGITS SUFFIX` (one per maximal digit run with something before
/// it), as the glob `DIR/PREFIX*SUFFIX`. Empty when the path is in `/`
/// itself or its last segment already has a wildcard.
pub fn numbered_keys(path: &str) -> Vec<String> {
    let Some((dir, name)) = path.rsplit_once('/') else { return Vec::new() };
    if dir.is_empty() || name.contains(['*', '?']) {
        return Vec::new();
    }
    let b = name.as_bytes();
    let mut keys = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let end = b[i..].iter().position(|c| !c.is_ascii_digit()).map_or(b.len(), |n| i + n);
        if i > 0 {
            keys.push(format!("{dir}/{}*{}", &name[..i], &name[end..]));
        }
        i = end;
    }
    keys
}

/// True for a loopback address or `localhost`, as written in a target's
/// host (`127.0.0.1`, `[::1]`, `localhost`).
pub fn is_loopback_host(host: &rampart_policy::HostPattern) -> bool {
    use rampart_policy::HostPattern;
    match host {
        HostPattern::Ip(ip) => ip.is_loopback(),
        HostPattern::Name(n) => n == "localhost",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(p: &str) -> String {
        temp_glob(p).unwrap_or_else(|| p.to_owned())
    }

    #[test]
    fn python_tempfile_names() {
        assert_eq!(temp("/tmp/tmpa8f3k2"), "/tmp/*");
        assert_eq!(temp("/tmp/tmpzz91qx"), "/tmp/*");
        assert_eq!(temp("/tmp/tmpa8f3k2.json"), "/tmp/*.json");
        assert_eq!(temp("/tmp/tmpa8f3k2/out.txt"), "/tmp/*/out.txt");
        assert_eq!(temp("/tmp/tmp4x_k9q2m.tar.gz"), "/tmp/*.tar.gz");
        assert_eq!(temp("/tmp/tmp_3kq9z1x"), "/tmp/*");
        assert_eq!(temp("/tmp/tmpk3x9q2ab"), "/tmp/*");
        assert_eq!(temp("/tmp/tmp7hq0_vzr.json"), "/tmp/*.json");
        assert_eq!(temp("/tmp/tmpqwrtz9yx"), "/tmp/*");
        assert_eq!(temp("/var/tmp/tmpq0w9e8r7"), "/var/tmp/*");
        assert_eq!(temp("/dev/shm/tmpq0w9e8r7"), "/dev/shm/*");
    }

    #[test]
    fn mkstemp_hex_and_uuid_names() {
        assert_eq!(temp("/tmp/ccAb3xZq.s"), "/tmp/*.s");
        assert_eq!(temp("/tmp/tmp.Ab3xZq0Kd1"), "/tmp/tmp.*");
        assert_eq!(temp("/tmp/pip-build-a8f3k2x9"), "/tmp/pip-build-*");
        assert_eq!(temp("/tmp/npm-1234-5f0c9e1a"), "/tmp/npm-1234-*");
        assert_eq!(temp("/tmp/8f5d0c1e-3b2a-4c5d-9e8f-0a1b2c3d4e5f"), "/tmp/*");
        assert_eq!(temp("/tmp/12345678-1234-1234-1234-123456789012.json"), "/tmp/*.json");
        assert_eq!(temp("/tmp/job-8f5d0c1e-3b2a-4c5d-9e8f-0a1b2c3d4e5f/result.csv"), "/tmp/job-*/result.csv");
        assert_eq!(temp("/tmp/cache/a1b2c3d4e5.lock"), "/tmp/cache/*.lock");
        assert_eq!(temp("/tmp/a8f3k2x9_b7c6d5e4"), "/tmp/*_*");
        assert_eq!(temp("/tmp/.org.chromium.Chromium.a8F3k2"), "/tmp/.org.chromium.Chromium.*");
    }

    #[test]
    fn words_are_not_random() {
        for literal in [
            "/tmp",
            "/tmp/cache",
            "/tmp/report2024",
            "/tmp/report2024v2",
            "/tmp/report-2024-11-27.csv",
            "/tmp/python3.12",
            "/tmp/log4j2.xml",
            "/tmp/utf8mb4",
            "/tmp/v2beta1",
            "/tmp/Win32Api",
            "/tmp/HTTPServer2",
            "/tmp/x86_64",
            "/tmp/node_modules",
            "/tmp/.X11-unix/X0",
            "/tmp/data1",
            "/tmp/tmpfiles2",
            "/tmp/tmpbackup12",
            "/tmp/tmpreport2024x",
            "/tmp/tmp_cache_2024",
            "/tmp/tmpsessions",
            "/tmp/tmpbackup_1",
            "/tmp/tmp_qwrtzyx",
            "/tmp/tmpsessions1",
            "/tmp/iPhone12",
            "/tmp/eBay2024",
            "/tmp/IPv4Addr",
            "/tmp/IPv6Only",
            "/tmp/OAuth2Token",
            "/tmp/JavaScript",
            "/tmp/PostgreSQL15",
            "/tmp/sha256sum",
            "/tmp/arm64v8",
            "/tmp/py312env",
            "/tmp/tmp_data_01",
            "/tmp/tmpdata_v2",
            "/tmp/backup_2024_01",
            "/tmp/session-42",
            "/tmp/1764280000123",
            "/tmp/12345678",
            "/tmp/deadbeefcafe",
            "/tmp/lambda-layer-v3",
            "/tmp/sqlite3.db",
            "/tmp/core.1234",
            "/tmp/hsperfdata_sbx_user1051/9",
            "/tmp/sha256sums",
            "/tmp/ipv6test",
        ] {
            assert_eq!(temp_glob(literal), None, "{literal}");
        }
    }

    /// A small deterministic generator (xorshift) for random names.
    fn names(alphabet: &[u8], len: usize, n: usize) -> Vec<String> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n)
            .map(|_| {
                (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % alphabet.len() as u64) as usize] as char
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn detection_rates() {
        let rate = |names: &[String], f: &dyn Fn(&str) -> String| {
            let hits = names.iter().filter(|n| temp_glob(&f(n)).is_some()).count();
            hits * 100 / names.len()
        };
        // Python's tempfile: `tmp` + 8 of [a-z0-9_].
        let py = names(b"abcdefghijklmnopqrstuvwxyz0123456789_", 8, 2000);
        assert!(rate(&py, &|n| format!("/tmp/tmp{n}")) >= 80);
        assert!(rate(&py, &|n| format!("/tmp/tmp{n}.json")) >= 80);
        // mktemp's default `tmp.` + 10 of [A-Za-z0-9]: lower, since names
        // without a digit, or that split into word-like pieces, stay literal.
        let mk = names(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 10, 2000);
        assert!(rate(&mk, &|n| format!("/tmp/tmp.{n}")) >= 50);
        // Hex ids and UUID-like names are always found.
        let hex = names(b"0123456789abcdef", 16, 500);
        let hex: Vec<&String> = hex.iter().filter(|h| h.bytes().any(|b| b.is_ascii_alphabetic())).collect();
        assert!(hex.iter().all(|h| temp_glob(&format!("/tmp/cache/{h}.bin")).is_some()));
    }

    #[test]
    fn only_inside_temp_dirs() {
        for outside in [
            "/var/task/tmpa8f3k2",
            "/tmpa8f3k2",
            "/tmpdir/tmpa8f3k2",
            "/var/tmpx/tmpa8f3k2",
            "/home/a8f3k2x9",
            "/proc/1234/fd/3",
            "/var/task/8f5d0c1e-3b2a-4c5d-9e8f-0a1b2c3d4e5f",
        ] {
            assert_eq!(temp_glob(outside), None, "{outside}");
        }
    }

    #[test]
    fn process_ids() {
        assert_eq!(pid_glob("/tmp/hsperfdata_root/4242", 4242).as_deref(), Some("/tmp/hsperfdata_root/*"));
        assert_eq!(
            pid_glob("/tmp/clr-debug-pipe-4242-8519137-in", 4242).as_deref(),
            Some("/tmp/clr-debug-pipe-*-*-in")
        );
        // Another pid, a longer number that only contains it, or outside
        // the temp dirs: as it is.
        assert_eq!(pid_glob("/tmp/hsperfdata_root/4243", 4242), None);
        assert_eq!(pid_glob("/tmp/job-42420.log", 4242), None);
        assert_eq!(pid_glob("/tmp/tmpa8f3k2", 8), None);
        assert_eq!(pid_glob("/var/task/4242", 4242), None);
    }

    #[test]
    fn numbered() {
        assert_eq!(numbered_keys("/var/task/data/part-0001.csv"), ["/var/task/data/part-*.csv"]);
        assert_eq!(numbered_keys("/var/log/log-2024-01.txt"), ["/var/log/log-*-01.txt", "/var/log/log-2024-*.txt"]);
        assert!(numbered_keys("/var/task/data/1.csv").is_empty());
        assert!(numbered_keys("/data1").is_empty());
        assert!(numbered_keys("/var/task/app.py").is_empty());
        assert!(numbered_keys("/tmp/*.json").is_empty());
        assert_eq!(numbered_keys("/tmp/*/part-7.csv"), ["/tmp/*/part-*.csv"]);
    }

    #[test]
    fn word_splitting() {
        assert!(made_of_words(b"Win32Api"));
        assert!(made_of_words(b"utf8mb4"));
        assert!(made_of_words(b"HTTPServer2"));
        assert!(made_of_words(b"IPv4Addr"));
        assert!(made_of_words(b"iPhone12"));
        assert!(!made_of_words(b"xAbq3kZ"));
        assert!(!made_of_words(b"a8f3k2"));
        assert!(!made_of_words(b"Ab3xZq"));
        assert!(!made_of_words(b"log4j2"));
    }
}
