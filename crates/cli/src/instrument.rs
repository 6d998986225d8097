//! `rampart instrument` and `rampart uninstrument`: attach the layer and
//! its two variables to a Lambda function, and take them off again.
//!
//! What instrument replaced is kept on the function itself, in one
//! variable, [`SAVED_VAR`]: the layer's name (its ARN without the version)
//! and the values `AWS_LAMBDA_EXEC_WRAPPER` and `RAMPART_POLICY` had before
//! the first `rampart instrument` (absent = unset). It is written once, on
//! the first instrument, and kept by later ones (a new layer version, a new
//! policy), so uninstrument always goes back to the state before rampart.
//! Keeping it on the function, not in a local file, means any machine with
//! the permissions can uninstrument, and the saved state goes wherever the
//! function's configuration goes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rampart_aws::lambda::{self, FunctionConfiguration, Update, UpdateEnvironment};
use rampart_aws::{Client, Service};
use rampart_s3::Location;
use serde::{Deserialize, Serialize};

use crate::aws::{aws_fail, client};
use crate::files::{Fail, print};
use crate::{InstrumentArgs, UninstrumentArgs, UpdateOpts};

/// The wrapper inside the layer (shims/wrapper, unpacked under /opt).
pub const WRAPPER: &str = "/opt/rampart/wrapper";
pub const WRAPPER_VAR: &str = "AWS_LAMBDA_EXEC_WRAPPER";
pub const POLICY_VAR: &str = "RAMPART_POLICY";
/// Where instrument keeps what uninstrument restores (module doc).
pub const SAVED_VAR: &str = "RAMPART_UNINSTRUMENT";

/// Lambda's limits: layers per function, and the size of the variables
/// measured as their JSON object (what Lambda's error quotes as "String measured").
pub const MAX_LAYERS: usize = 5;
pub const MAX_ENV_BYTES: usize = 4096;

/// How often the update status is read while waiting (botocore's
/// `function_updated_v2` waiter also polls every second).
const POLL: Duration = Duration::from_secs(1);

const GET_PERMISSION: &str = "lambda:GetFunctionConfiguration";
const UPDATE_PERMISSION: &str = "lambda:UpdateFunctionConfiguration";

/// A layer version ARN: `arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME:VERSION`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerArn {
    pub arn: String,
    /// The ARN without `:VERSION`: the same layer in every version.
    pub layer: String,
    pub region: String,
    pub version: u64,
}

impl LayerArn {
    pub fn parse(s: &str) -> Result<LayerArn, String> {
        let shape = "expected arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION";
        let parts: Vec<&str> = s.split(':').collect();
        let [arn, partition, service, region, account, kind, name, version] = parts[..] else {
            return Err(format!("{s:?} is not a layer version ARN: {shape}"));
        };
        let bad = |why: String| Err(format!("{s:?} is not a layer version ARN: {why} ({shape})"));
        if arn != "arn" || !partition.starts_with("aws") || service != "lambda" || kind != "layer" {
            return bad("not a Lambda layer ARN".into());
        }
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return bad(format!("{region:?} is not a region"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return bad(format!("{account:?} is not a 12-digit account id"));
        }
        if name.is_empty()
            || name.len() > 140
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad(format!("{name:?} is not a layer name (1 to 140 of A-Z a-z 0-9 - _)"));
        }
        let version = match version.parse::<u64>() {
            Ok(v) if v >= 1 && !version.starts_with('0') => v,
            _ => return bad(format!("{version:?} is not a version number")),
        };
        Ok(LayerArn {
            arn: s.to_owned(),
            layer: s[..s.len() - parts[7].len() - 1].to_owned(),
            region: region.to_owned(),
            version,
        })
    }
}

/// The layer's name part of a layer version ARN (`...:layer:NAME`), or
/// `None` for something that is not one.
fn layer_of(arn: &str) -> Option<&str> {
    let (layer, version) = arn.rsplit_once(':')?;
    (layer.contains(":layer:") && !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit())).then_some(layer)
}

/// What [`SAVED_VAR`] holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saved {
    /// rampart's layer, without version.
    pub layer: String,
    /// `AWS_LAMBDA_EXEC_WRAPPER` before (absent: unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrapper: Option<String>,
    /// `RAMPART_POLICY` before (absent: unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl Saved {
    fn read(vars: &BTreeMap<String, String>) -> Result<Option<Saved>, String> {
        match vars.get(SAVED_VAR) {
            None => Ok(None),
            Some(text) => serde_json::from_str(text).map(Some).map_err(|e| {
                format!(
                    "{SAVED_VAR} is set but is not the state rampart instrument saves ({e}): fix or remove it by hand"
                )
            }),
        }
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings serialises")
    }
}

/// A function's layers and variables: what instrument and uninstrument change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub layers: Vec<String>,
    pub vars: BTreeMap<String, String>,
}

/// A change from `before` to `after`, with notes for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub before: State,
    pub after: State,
    pub notes: Vec<String>,
}

impl Plan {
    pub fn changes(&self) -> bool {
        self.before != self.after
    }

    /// Layers before → after, and every variable that changes (values of
    /// the others are not printed: they may be secrets).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let list = |out: &mut String, title: &str, layers: &[String]| {
            let _ = writeln!(out, "  {title}:{}", if layers.is_empty() { " none" } else { "" });
            for l in layers {
                let _ = writeln!(out, "    {l}");
            }
        };
        if self.before.layers == self.after.layers {
            list(&mut out, "layers (unchanged)", &self.after.layers);
        } else {
            list(&mut out, "layers before", &self.before.layers);
            list(&mut out, "layers after", &self.after.layers);
        }
        let names: std::collections::BTreeSet<&String> =
            self.before.vars.keys().chain(self.after.vars.keys()).collect();
        let mut unchanged = 0;
        let show = |v: Option<&String>| v.map_or("(unset)".to_owned(), |v| v.clone());
        for name in names {
            let (b, a) = (self.before.vars.get(name), self.after.vars.get(name));
            if b == a {
                unchanged += 1;
            } else {
                let _ = writeln!(out, "  {name}: {} -> {}", show(b), show(a));
            }
        }
        if unchanged > 0 {
            let _ = writeln!(out, "  {unchanged} other variable{} unchanged", if unchanged == 1 { "" } else { "s" });
        }
        for n in &self.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        out
    }
}

/// Checks Lambda's limits on the new state.
fn check_limits(function: &str, after: &State) -> Result<(), String> {
    if after.layers.len() > MAX_LAYERS {
        return Err(format!(
            "{function} would have {} layers with rampart's, and Lambda allows {MAX_LAYERS}: remove one first ({})",
            after.layers.len(),
            after.layers.join(", ")
        ));
    }
    let size = serde_json::to_string(&after.vars).map_or(0, |s| s.len());
    if size > MAX_ENV_BYTES {
        return Err(format!(
            "{function}'s environment variables would take {size} bytes with rampart's, and Lambda allows {MAX_ENV_BYTES} (4 KB, measured as their JSON object)"
        ));
    }
    Ok(())
}

/// The instrumented state of `before`: `layer` in place of any version of
/// the same layer (else appended last, so its /opt/rampart wins), the
/// wrapper and policy variables set, what they replaced saved.
pub fn plan_instrument(
    function: &str,
    before: &State,
    layer: &LayerArn,
    policy: &str,
    force: bool,
) -> Result<Plan, String> {
    let saved = Saved::read(&before.vars)?;
    let mut notes = Vec::new();
    // rampart's layer: the one given, and the one saved when instrument ran with another layer name.
    let is_rampart =
        |arn: &str| layer_of(arn).is_some_and(|l| l == layer.layer || saved.as_ref().is_some_and(|s| s.layer == l));
    let mut layers = Vec::new();
    let mut placed = false;
    for arn in &before.layers {
        if is_rampart(arn) {
            if !placed {
                if arn != &layer.arn {
                    notes.push(format!("replaces {arn}"));
                }
                layers.push(layer.arn.clone());
                placed = true;
            }
        } else {
            layers.push(arn.clone());
        }
    }
    if !placed {
        layers.push(layer.arn.clone());
    }

    let current_wrapper = before.vars.get(WRAPPER_VAR);
    if let Some(other) = current_wrapper.filter(|w| w.as_str() != WRAPPER) {
        if !force {
            return Err(format!(
                "{function} already has {WRAPPER_VAR}={other}: another exec wrapper, which rampart's would replace; give --force to replace it (uninstrument puts it back)"
            ));
        }
        notes.push(format!("replaces the exec wrapper {other} (--force); uninstrument puts it back"));
    }
    let saved = match saved {
        Some(mut s) => {
            // Re-instrumented after someone set another wrapper: that one is what to restore.
            if let Some(other) = current_wrapper.filter(|w| w.as_str() != WRAPPER) {
                s.wrapper = Some(other.clone());
            }
            s
        }
        None => Saved {
            layer: layer.layer.clone(),
            wrapper: current_wrapper.cloned(),
            policy: before.vars.get(POLICY_VAR).cloned(),
        },
    };
    let mut vars = before.vars.clone();
    vars.insert(WRAPPER_VAR.to_owned(), WRAPPER.to_owned());
    vars.insert(POLICY_VAR.to_owned(), policy.to_owned());
    vars.insert(SAVED_VAR.to_owned(), saved.to_json());
    let after = State { layers, vars };
    check_limits(function, &after)?;
    Ok(Plan { before: before.clone(), after, notes })
}

/// The state before the first instrument: rampart's layer (any version)
/// removed, the other layers kept in their order, the wrapper and policy
/// variables as saved, the saved state removed. `None` when the function
/// is not instrumented (nothing to do).
pub fn plan_uninstrument(function: &str, before: &State) -> Result<Option<Plan>, String> {
    let Some(saved) = Saved::read(&before.vars)? else {
        if before.vars.get(WRAPPER_VAR).is_some_and(|w| w == WRAPPER) {
            return Err(format!(
                "{function} runs rampart's wrapper but has no {SAVED_VAR} variable: it was not instrumented by `rampart instrument`, so there is no saved state to restore; remove the layer and the variables where they were added (your infrastructure code)"
            ));
        }
        return Ok(None);
    };
    let mut notes = Vec::new();
    let layers: Vec<String> =
        before.layers.iter().filter(|arn| layer_of(arn) != Some(saved.layer.as_str())).cloned().collect();
    let mut vars = before.vars.clone();
    vars.remove(SAVED_VAR);
    match before.vars.get(WRAPPER_VAR) {
        Some(w) if w != WRAPPER => notes.push(format!("{WRAPPER_VAR} was changed to {w} since: left as it is")),
        _ => restore(&mut vars, WRAPPER_VAR, saved.wrapper.as_ref()),
    }
    restore(&mut vars, POLICY_VAR, saved.policy.as_ref());
    let after = State { layers, vars };
    check_limits(function, &after)?;
    Ok(Some(Plan { before: before.clone(), after, notes }))
}

fn restore(vars: &mut BTreeMap<String, String>, name: &str, value: Option<&String>) {
    match value {
        Some(v) => vars.insert(name.to_owned(), v.clone()),
        None => vars.remove(name),
    };
}

/// The status of a function's last update, as far as waiting goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateStatus {
    Done,
    InProgress,
    Failed(String),
}

pub fn update_status(c: &FunctionConfiguration) -> UpdateStatus {
    let reason = |code: &Option<String>, text: &Option<String>| match (code, text) {
        (Some(c), Some(t)) => format!("{c}: {t}"),
        (Some(x), None) | (None, Some(x)) => x.clone(),
        (None, None) => "no reason given".to_owned(),
    };
    match (c.state.as_deref(), c.last_update_status.as_deref()) {
        (Some("Failed"), _) => {
            UpdateStatus::Failed(format!("the function's state is Failed ({})", reason(&None, &c.state_reason)))
        }
        (_, Some("Failed")) => UpdateStatus::Failed(format!(
            "the update failed ({})",
            reason(&c.last_update_status_reason_code, &c.last_update_status_reason)
        )),
        (Some("Pending"), _) | (_, Some("InProgress")) => UpdateStatus::InProgress,
        _ => UpdateStatus::Done,
    }
}

/// Reads the status (with `fetch`) until the update is done, has failed, or
/// `timeout` has passed; `sleep` pauses between reads, `elapsed` says how
/// long it has been. Returns the number of reads.
pub fn wait_until_updated(
    function: &str,
    fetch: &mut dyn FnMut() -> Result<UpdateStatus, Fail>,
    sleep: &mut dyn FnMut(Duration),
    elapsed: &dyn Fn() -> Duration,
    timeout: Duration,
) -> Result<u32, Fail> {
    let mut reads = 0;
    loop {
        reads += 1;
        match fetch()? {
            UpdateStatus::Done => return Ok(reads),
            UpdateStatus::Failed(why) => return Err(Fail(format!("{function}: {why}"))),
            UpdateStatus::InProgress if elapsed() >= timeout => {
                return Err(Fail(format!(
                    "{function}: the update is still in progress after {} s (LastUpdateStatus InProgress); check it with `aws lambda get-function-configuration --function-name {function}`, or wait longer with --wait-timeout",
                    timeout.as_secs()
                )));
            }
            UpdateStatus::InProgress => sleep(POLL),
        }
    }
}

/// Function names, partial ARNs and ARNs: what Lambda's FunctionName takes,
/// unqualified (a version or alias cannot be reconfigured).
pub fn check_function(name: &str) -> Result<(), Fail> {
    let ok = !name.is_empty()
        && name.len() <= 140
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'));
    if !ok {
        return Err(Fail(format!(
            "{name:?} is not a Lambda function name or ARN (letters, digits, - and _; an ARN adds ':')"
        )));
    }
    Ok(())
}

fn state_of(c: &FunctionConfiguration, function: &str) -> Result<State, Fail> {
    if let Some(err) = c.environment.as_ref().and_then(|e| e.error.as_ref()) {
        return Err(Fail(format!(
            "{function}: Lambda could not give these credentials its environment variables ({}: {}); without them an update would lose them, so nothing was changed",
            err.error_code.as_deref().unwrap_or("error"),
            err.message.as_deref().unwrap_or("no message")
        )));
    }
    Ok(State { layers: c.layer_arns(), vars: c.variables() })
}

fn get(client: &Client, function: &str) -> Result<FunctionConfiguration, Fail> {
    lambda::get_function_configuration(client, function).map_err(|e| not_found(&e, client, function, GET_PERMISSION))
}

fn not_found(e: &rampart_aws::Error, client: &Client, function: &str, permission: &str) -> Fail {
    if e.code() == Some("ResourceNotFoundException") && e.operation().starts_with("lambda:GetFunctionConfiguration") {
        return Fail(format!(
            "function {function} not found in region {} ({e}); check the name and --region / AWS_REGION",
            client.region()
        ));
    }
    aws_fail(e, permission)
}

/// Reads the configuration, first waiting out an update already in
/// progress (Lambda refuses a second one with ResourceConflictException).
fn settled(client: &Client, function: &str, timeout: Duration) -> Result<FunctionConfiguration, Fail> {
    let config = get(client, function)?;
    if update_status(&config) != UpdateStatus::InProgress {
        return Ok(config);
    }
    eprintln!("rampart: {function}: waiting for the update in progress to finish first");
    wait(client, function, timeout)?;
    get(client, function)
}

fn wait(client: &Client, function: &str, timeout: Duration) -> Result<u32, Fail> {
    let start = Instant::now();
    wait_until_updated(
        function,
        &mut || get(client, function).map(|c| update_status(&c)),
        &mut std::thread::sleep,
        &|| start.elapsed(),
        timeout,
    )
}

/// Applies `plan` (or only prints it with `dry_run`) and waits for Lambda.
fn apply(
    client: &Client,
    function: &str,
    config: &FunctionConfiguration,
    plan: &Plan,
    opts: &UpdateOpts,
    what: &str,
) -> Result<ExitCode, Fail> {
    let name = config.function_arn.as_deref().unwrap_or(function);
    let mut out = format!("{what} {name}:\n{}", plan.describe());
    if opts.dry_run {
        out.push_str("dry run: nothing changed\n");
        print(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    print(&out)?;
    let update = Update {
        layers: &plan.after.layers,
        environment: UpdateEnvironment { variables: &plan.after.vars },
        revision_id: config.revision_id.as_deref(),
    };
    let start = Instant::now();
    let answer = lambda::update_function_configuration(client, function, &update).map_err(|e| match e.code() {
        Some("PreconditionFailedException") => Fail(format!(
            "{function} was changed by someone else while rampart read it ({e}); nothing was changed: run the command again"
        )),
        Some("ResourceNotFoundException") if e.to_string().contains("LayerVersion") => Fail(format!(
            "{e}: publish the layer version in this region and account first, or share it with this account (lambda:AddLayerVersionPermission); nothing was changed"
        )),
        Some("ResourceConflictException") => Fail(format!(
            "{function} is being updated by someone else ({e}); nothing was changed: run the command again when it is done"
        )),
        _ => aws_fail(&e, UPDATE_PERMISSION),
    })?;
    let reads = match update_status(&answer) {
        UpdateStatus::Done => 0,
        _ => wait(client, function, Duration::from_secs(opts.wait_timeout))?,
    };
    print(&format!(
        "updated {function}: LastUpdateStatus Successful after {:.1} s ({reads} status read{})\n",
        start.elapsed().as_secs_f64(),
        if reads == 1 { "" } else { "s" }
    ))?;
    Ok(ExitCode::SUCCESS)
}

pub fn instrument(args: InstrumentArgs) -> Result<ExitCode, Fail> {
    check_function(&args.function)?;
    let layer = LayerArn::parse(&args.layer).map_err(Fail)?;
    let location = Location::parse(&args.policy, None).map_err(|e| Fail(format!("--policy: {e}")))?;
    let policy = location.to_string();
    let client = client(Service::Lambda, &args.update.aws)?;
    let config = settled(&client, &args.function, Duration::from_secs(args.update.wait_timeout))?;
    if layer.region != client.region() {
        return Err(Fail(format!(
            "the layer {} is in region {}, the function in {}: Lambda only attaches layers of the function's region (publish the layer there)",
            layer.arn,
            layer.region,
            client.region()
        )));
    }
    let before = state_of(&config, &args.function)?;
    let mut plan = plan_instrument(&args.function, &before, &layer, &policy, args.force).map_err(Fail)?;
    if location.prefix.is_empty() {
        plan.notes.push(format!(
            "with {policy} the layer reads {policy}/{}/policy.json (the prefix is the function's name)",
            config.function_name
        ));
    }
    if !plan.changes() {
        print(&format!(
            "{} is already instrumented with {} and {policy}: nothing to change\n",
            args.function, layer.arn
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    apply(&client, &args.function, &config, &plan, &args.update, "instrument")
}

pub fn uninstrument(args: UninstrumentArgs) -> Result<ExitCode, Fail> {
    check_function(&args.function)?;
    let client = client(Service::Lambda, &args.update.aws)?;
    let config = settled(&client, &args.function, Duration::from_secs(args.update.wait_timeout))?;
    let before = state_of(&config, &args.function)?;
    let Some(plan) = plan_uninstrument(&args.function, &before).map_err(Fail)? else {
        print(&format!("{} is not instrumented (no {SAVED_VAR} variable): nothing to change\n", args.function))?;
        return Ok(ExitCode::SUCCESS);
    };
    apply(&client, &args.function, &config, &plan, &args.update, "uninstrument")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const R4: &str = "arn:aws:lambda:eu-west-1:123456789012:layer:rampart:4";
    const R3: &str = "arn:aws:lambda:eu-west-1:123456789012:layer:rampart:3";
    const DEPS: &str = "arn:aws:lambda:eu-west-1:123456789012:layer:deps:7";
    const EXT: &str = "arn:aws:lambda:eu-west-1:210987654321:layer:ext:2";

    fn state(layers: &[&str], vars: &[(&str, &str)]) -> State {
        State {
            layers: layers.iter().map(|s| s.to_string()).collect(),
            vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn parses_layer_arns() {
        let l = LayerArn::parse(R4).unwrap();
        assert_eq!((l.layer.as_str(), l.region.as_str(), l.version), (&R4[..R4.len() - 2], "eu-west-1", 4));
        assert!(LayerArn::parse("arn:aws-cn:lambda:cn-north-1:123456789012:layer:a_b-c:12").is_ok());
        for (bad, says) in [
            ("rampart", "expected arn:aws:lambda"),
            ("arn:aws:lambda:eu-west-1:123456789012:layer:rampart", "expected arn:aws:lambda"),
            ("arn:aws:s3:eu-west-1:123456789012:layer:rampart:1", "not a Lambda layer ARN"),
            ("arn:aws:lambda:eu-west-1:123456789012:function:rampart:1", "not a Lambda layer ARN"),
            ("arn:aws:lambda:EU:123456789012:layer:rampart:1", "\"EU\" is not a region"),
            ("arn:aws:lambda:eu-west-1:1234:layer:rampart:1", "12-digit account id"),
            ("arn:aws:lambda:eu-west-1:123456789012:layer:ram.part:1", "not a layer name"),
            ("arn:aws:lambda:eu-west-1:123456789012:layer:rampart:0", "not a version number"),
            ("arn:aws:lambda:eu-west-1:123456789012:layer:rampart:v1", "not a version number"),
        ] {
            let e = LayerArn::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn instruments_a_fresh_function_and_is_idempotent() {
        let layer = LayerArn::parse(R4).unwrap();
        let before = state(&[DEPS], &[("TABLE", "orders")]);
        let plan = plan_instrument("f", &before, &layer, "s3://b/p", false).unwrap();
        assert_eq!(plan.after.layers, [DEPS, R4]);
        assert_eq!(plan.after.vars.get(WRAPPER_VAR).unwrap(), WRAPPER);
        assert_eq!(plan.after.vars.get(POLICY_VAR).unwrap(), "s3://b/p");
        assert_eq!(plan.after.vars.get("TABLE").unwrap(), "orders");
        let saved: Saved = serde_json::from_str(plan.after.vars.get(SAVED_VAR).unwrap()).unwrap();
        assert_eq!(saved, Saved { layer: layer.layer.clone(), wrapper: None, policy: None });
        assert_eq!(plan.after.vars.get(SAVED_VAR).unwrap(), &format!("{{\"layer\":\"{}\"}}", layer.layer));
        let again = plan_instrument("f", &plan.after, &layer, "s3://b/p", false).unwrap();
        assert!(!again.changes());
        // A new policy is a change, and the original saved state stays.
        let moved = plan_instrument("f", &plan.after, &layer, "s3://b/q", false).unwrap();
        assert!(moved.changes());
        assert_eq!(moved.after.vars.get(SAVED_VAR), plan.after.vars.get(SAVED_VAR));
        let text = moved.describe();
        assert!(text.contains("RAMPART_POLICY: s3://b/p -> s3://b/q"), "{text}");
        assert!(text.contains("layers (unchanged)"), "{text}");
        assert!(text.contains("3 other variables unchanged"), "{text}");
    }

    #[test]
    fn replaces_an_older_rampart_layer_in_place() {
        let layer = LayerArn::parse(R4).unwrap();
        let before = state(&[EXT, R3, DEPS], &[]);
        let plan = plan_instrument("f", &before, &layer, "s3://b/p", false).unwrap();
        assert_eq!(plan.after.layers, [EXT, R4, DEPS]);
        assert!(plan.notes.iter().any(|n| n == &format!("replaces {R3}")), "{:?}", plan.notes);
        let text = plan.describe();
        assert!(text.contains(&format!("layers before:\n    {EXT}\n    {R3}\n    {DEPS}\n")), "{text}");
        assert!(text.contains("AWS_LAMBDA_EXEC_WRAPPER: (unset) -> /opt/rampart/wrapper"), "{text}");
        // Uninstrument removes it, whatever its version.
        let undo = plan_uninstrument("f", &plan.after).unwrap().unwrap();
        assert_eq!(undo.after.layers, [EXT, DEPS]);
        assert!(undo.after.vars.is_empty());
    }

    #[test]
    fn another_wrapper_needs_force_and_comes_back() {
        let layer = LayerArn::parse(R4).unwrap();
        let before = state(&[], &[(WRAPPER_VAR, "/opt/other/wrapper"), ("K", "v")]);
        let e = plan_instrument("orders", &before, &layer, "s3://b/p", false).unwrap_err();
        assert!(e.starts_with("orders already has AWS_LAMBDA_EXEC_WRAPPER=/opt/other/wrapper"), "{e}");
        assert!(e.contains("--force"), "{e}");
        let plan = plan_instrument("orders", &before, &layer, "s3://b/p", true).unwrap();
        assert_eq!(plan.after.vars.get(WRAPPER_VAR).unwrap(), WRAPPER);
        let undo = plan_uninstrument("orders", &plan.after).unwrap().unwrap();
        assert_eq!(undo.after, before);
    }

    #[test]
    fn uninstrument_restores_a_previous_policy_and_is_idempotent() {
        let layer = LayerArn::parse(R4).unwrap();
        let before = state(&[DEPS], &[(POLICY_VAR, "file:///var/task/policy.json")]);
        let plan = plan_instrument("f", &before, &layer, "s3://b/p", false).unwrap();
        let undo = plan_uninstrument("f", &plan.after).unwrap().unwrap();
        assert_eq!(undo.after, before);
        assert_eq!(plan_uninstrument("f", &undo.after).unwrap(), None);
        let e = plan_uninstrument("f", &state(&[R4], &[(WRAPPER_VAR, WRAPPER)])).unwrap_err();
        assert!(e.contains("no RAMPART_UNINSTRUMENT variable"), "{e}");
        let e = plan_uninstrument("f", &state(&[], &[(SAVED_VAR, "{\"x\":1}")])).unwrap_err();
        assert!(e.starts_with("RAMPART_UNINSTRUMENT is set but is not the state"), "{e}");
    }

    #[test]
    fn lambda_limits() {
        let layer = LayerArn::parse(R4).unwrap();
        let five: Vec<String> =
            (1..=5).map(|i| format!("arn:aws:lambda:eu-west-1:123456789012:layer:l{i}:1")).collect();
        let before = State { layers: five.clone(), vars: BTreeMap::new() };
        let e = plan_instrument("f", &before, &layer, "s3://b/p", false).unwrap_err();
        assert!(e.starts_with("f would have 6 layers with rampart's, and Lambda allows 5"), "{e}");
        // Five with an older rampart among them is fine: it is replaced.
        let mut with_old = five[..4].to_vec();
        with_old.push(R3.to_owned());
        assert!(
            plan_instrument("f", &State { layers: with_old, vars: BTreeMap::new() }, &layer, "s3://b/p", false).is_ok()
        );
        let big = "x".repeat(4000);
        let e = plan_instrument("f", &state(&[], &[("BIG", &big)]), &layer, "s3://b/p", false).unwrap_err();
        assert!(e.contains("would take") && e.contains("Lambda allows 4096"), "{e}");
    }

    fn config(state: &str, status: Option<&str>, reason: Option<&str>) -> FunctionConfiguration {
        FunctionConfiguration {
            state: Some(state.into()),
            last_update_status: status.map(Into::into),
            last_update_status_reason: reason.map(Into::into),
            last_update_status_reason_code: reason.map(|_| "EniLimitExceeded".into()),
            ..Default::default()
        }
    }

    #[test]
    fn reads_update_status() {
        assert_eq!(update_status(&config("Active", Some("Successful"), None)), UpdateStatus::Done);
        assert_eq!(update_status(&config("Active", None, None)), UpdateStatus::Done);
        assert_eq!(update_status(&config("Active", Some("InProgress"), None)), UpdateStatus::InProgress);
        assert_eq!(update_status(&config("Pending", None, None)), UpdateStatus::InProgress);
        assert_eq!(
            update_status(&config("Active", Some("Failed"), Some("too many ENIs"))),
            UpdateStatus::Failed("the update failed (EniLimitExceeded: too many ENIs)".into())
        );
    }

    #[test]
    fn waits_until_done_failed_or_timed_out() {
        let clock = Cell::new(Duration::ZERO);
        let run = |script: Vec<UpdateStatus>, timeout: u64| {
            clock.set(Duration::ZERO);
            let mut script = script.into_iter();
            wait_until_updated(
                "f",
                &mut || Ok(script.next().unwrap_or(UpdateStatus::InProgress)),
                &mut |d| clock.set(clock.get() + d),
                &|| clock.get(),
                Duration::from_secs(timeout),
            )
        };
        use UpdateStatus::*;
        assert_eq!(run(vec![InProgress, InProgress, Done], 60).unwrap(), 3);
        assert_eq!(clock.get(), Duration::from_secs(2));
        let e = run(vec![InProgress, Failed("the update failed (x)".into())], 60).unwrap_err();
        assert_eq!(e.0, "f: the update failed (x)");
        let e = run(vec![], 5).unwrap_err();
        assert!(e.0.starts_with("f: the update is still in progress after 5 s"), "{}", e.0);
        assert_eq!(clock.get(), Duration::from_secs(5));
    }
}
