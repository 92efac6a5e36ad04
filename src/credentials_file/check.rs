//! `--check`: whether the file holds the profile with credentials valid long
//! enough, read as the writer and botocore would read it; no network.

use std::time::Duration;

use super::atomic::read_file;
use super::dir::Dir;
use super::ini::*;
use super::permissions::trusted;
use super::{parent_dir, FileSink};
use crate::credentials::{FIT_VALUE_CHARS, LONGEST_SESSION};
use crate::error::Error;
use crate::time::{format_duration, Timestamp};

/// For `--check`: Ok(the expiry believed) iff the sink's file holds its profile with
/// access key, secret key and the recorded expiry at least `min_valid`
/// after `now`, in a file the writer would merge into (this user's or
/// `--owner`'s, not writable by group or others: round 15, a file another
/// user planted in a directory it may write passed, keys of its choosing
/// and all, while the daemon refused it at every refresh); otherwise
/// `Err(Error::Stale(..))` saying why, or an `Io` error if unreadable for
/// another reason.
pub fn check(sink: &FileSink, now: Timestamp, min_valid: Duration) -> Result<Timestamp, Error> {
    let (path, profile) = (&sink.path, sink.profile.as_str());
    let shown = path.display();
    // What reading refuses as a mistake at a writer's start (a link on
    // the way, a pipe or directory at the path) is, to a probe, one more
    // reason the file is not fit: exit 1, as for a link at the file.
    let file = match read_file(path) {
        Err(Error::Config(why)) => return Err(Error::Stale(why)),
        read => read?,
    };
    let Some(file) = file else {
        return Err(Error::Stale(format!(
            "{shown} does not exist yet: aws-credfile has not written it (is it running with this --file?), or it was deleted since"
        )));
    };
    // The directories too, by the writer's rule: a file another user
    // could swap in passed while the writer refused the directory.
    if let Ok(dir) = Dir::walk(parent_dir(path), None) {
        if let Err(Error::Config(why)) = sink.dir_trusted(&dir) {
            return Err(Error::Stale(why));
        }
    }
    // Written for `--owner`, the file is that user's: another's is one
    // the writer refuses to give away, and the app cannot read.
    if let Some(owner) = sink.owner.filter(|o| o.uid != file.uid) {
        return Err(Error::Stale(format!(
            "{shown} belongs to uid {}, not to --owner {}, as aws-credfile writes it for --owner",
            file.uid, owner.uid
        )));
    }
    if let Err(why) = trusted(file.uid, file.mode, sink.owner) {
        return Err(Error::Stale(format!(
            "{shown} is not the file aws-credfile writes: {why}"
        )));
    }
    if file.acl {
        return Err(Error::Stale(format!(
            "{shown} is not the file aws-credfile writes: it has an ACL (setfacl), so who may read it is not in its mode"
        )));
    }
    let text = file.text;
    let found = inspect(&text, profile);
    let missing = |what: &str| {
        Error::Stale(format!(
            "profile [{profile}] in {shown} has no {what}; aws-credfile rewrites it on its next refresh"
        ))
    };
    // A file the SDKs cannot read is said so first: "not written yet"
    // sent the operator after the wrong cause.
    if let Some(why) = ambiguity(&text) {
        return Err(Error::Stale(format!(
            "{shown} may not read as aws-credfile reads it: {why}"
        )));
    }
    if found.sections > 1 {
        return Err(Error::Stale(format!(
            "{shown} has {} [{profile}] sections, a file botocore refuses to read; aws-credfile rewrites them as one on its next refresh",
            found.sections
        )));
    }
    if let Some(why) = python_refuses(&text) {
        return Err(Error::Stale(format!("{shown} cannot be read: {why}")));
    }
    if let Some((n, key, default)) = foreign_key(&text, profile, true) {
        let (r#where, fix) = match default {
            true => (
                "in [DEFAULT], which Python's SDKs give every profile",
                "move it to a profile of its own",
            ),
            false => (
                "in the profile",
                "aws-credfile removes it on its next refresh",
            ),
        };
        return Err(Error::Stale(format!(
            "line {n} of {shown} sets {key} {where}, which botocore may read with or over the keys of [{profile}]; {fix}"
        )));
    }
    if found.sections == 0 {
        return Err(Error::Stale(format!(
            "{shown} has no [{profile}] profile; aws-credfile has not written it yet (is it running with this --profile?)"
        )));
    }
    if let Some(key) = found.unfit {
        return Err(Error::Stale(format!(
            "the {key} of [{profile}] in {shown} holds characters other than {FIT_VALUE_CHARS}, which some SDKs misread or fail the whole file at; aws-credfile rewrites it on its next refresh"
        )));
    }
    if let Some(why) = go_v1_refuses(&text) {
        return Err(Error::Stale(format!(
            "{shown} cannot be read by every SDK: {why}"
        )));
    }
    if !found.access_key_id {
        return Err(missing(ACCESS_KEY_ID));
    }
    if !found.secret_access_key {
        return Err(missing(SECRET_ACCESS_KEY));
    }
    // STS refuses a temporary key without its token, as every source here
    // does.
    if found.temporary && !found.session_token {
        return Err(missing(&format!(
            "{SESSION_TOKEN}, which its temporary access key (ASIA…) needs"
        )));
    }
    let Some(expires) = found.expires else {
        let why = if found.bad_marker {
            "readable expiry in its \"# aws-credfile: expires ...\" comment"
        } else {
            "\"# aws-credfile: expires ...\" comment, so its expiry is unknown (was it written by aws-credfile?)"
        };
        return Err(missing(why));
    };
    // An expiry further off than any session AWS issues is believed only
    // for 12 h after the section was written (round 14: a file baked into
    // an image, claiming 9999, passed every probe while nothing refreshed
    // it). A running aws-credfile rewrites the section every 6 h at most.
    let written = found.refreshed.filter(|&r| r <= now);
    let believed = match written {
        Some(written) => expires.min(written.plus(LONGEST_SESSION)),
        None if expires > now.plus(LONGEST_SESSION) => now,
        None => expires,
    };
    // `<=`: believed till now is not believed at all, even by the read-back
    // that asks for no time left (`min_valid` 0).
    if believed < expires && believed <= now.plus(min_valid) {
        let why = match written {
            Some(w) => format!("more than 12 h after it was written at {w}"),
            None => "more than 12 h from now, and it says no past time it was written".into(),
        };
        return Err(Error::Stale(format!(
            "profile [{profile}] in {shown} claims to expire at {expires}, {why}; no session AWS issues lasts that long, so it is not believed (is aws-credfile running and refreshing it?)"
        )));
    }
    if expires < now.plus(min_valid) {
        let when = if expires <= now {
            format!(
                "expired at {expires}, {} ago",
                format_duration(expires.until(now))
            )
        } else {
            format!(
                "expire at {expires}, in {}",
                format_duration(now.until(expires))
            )
        };
        return Err(Error::Stale(format!(
            "the credentials for profile [{profile}] in {shown} {when}, less than --min-valid {}; is aws-credfile running and refreshing?",
            format_duration(min_valid)
        )));
    }
    // What is believed: `check_passed` logged a far expiry it did not
    // believe (round 31).
    Ok(believed)
}
