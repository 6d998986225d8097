//! `rampart instrument`, `rampart uninstrument` and `rampart learn
//! --function` against moto's Lambda, CloudWatch Logs and IAM on loopback
//! (tests/src/moto.rs says what moto checks and what it does not). Every
//! function, layer and log event is set up with boto3, and every result is
//! read back with boto3, never with the client under test. Each `rampart`
//! run gets a cleared environment with HOME in a temporary directory.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rampart_tests::moto::{ACCOUNT, Moto, REGION};
use rampart_tests::{CliOutput as Out, rampart_cli};
use serde_json::{Value, json};

const WRAPPER: &str = "/opt/rampart/wrapper";

fn layer_arn(name: &str, version: u32) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}:{version}")
}

/// A function's layers and variables, as boto3 reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Config {
    layers: Vec<String>,
    vars: BTreeMap<String, String>,
}

struct World {
    moto: Moto,
    home: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        World { moto: Moto::start(), home: tempfile::tempdir().unwrap() }
    }

    fn run_env(&self, args: &[&str], env: &[(String, String)]) -> Out {
        rampart_cli(args, self.home.path(), self.home.path(), env)
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_env(args, &self.moto.env())
    }

    /// Publishes versions 1..=n of a layer; returns their ARNs.
    fn layers(&self, name: &str, n: u32) -> Vec<String> {
        let arns: Vec<String> = self
            .moto
            .py(&format!("for _ in range({n}): print(layer({name:?}))"), "")
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(arns, (1..=n).map(|v| layer_arn(name, v)).collect::<Vec<_>>());
        arns
    }

    /// Creates a function with these layers and variables (`None`: no Environment at all).
    fn function(&self, name: &str, layers: &[String], vars: Option<&[(&str, &str)]>) {
        let vars: Option<BTreeMap<&str, &str>> = vars.map(|v| v.iter().copied().collect());
        let input = json!({"name": name, "layers": layers, "env": vars}).to_string();
        self.moto.py("a = json.load(sys.stdin)\nfunction(a['name'], a['layers'], a['env'])", &input);
    }

    fn config(&self, name: &str) -> Config {
        let out = self.moto.py(
            "c = lam.get_function_configuration(FunctionName=sys.stdin.read())\n\
             print(json.dumps({'layers': [l['Arn'] for l in c.get('Layers', [])],\n\
                               'vars': c.get('Environment', {}).get('Variables', {})}))",
            name,
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        Config {
            layers: serde_json::from_value(v["layers"].clone()).unwrap(),
            vars: serde_json::from_value(v["vars"].clone()).unwrap(),
        }
    }

    fn instrument(&self, function: &str, layer: &str, extra: &[&str]) -> Out {
        let mut args = vec!["instrument", "--function", function, "--layer", layer, "--policy", "s3://policies/orders"];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn instrument_a_fresh_function_then_again_then_uninstrument() {
    let w = World::new();
    let rampart = w.layers("rampart", 2);
    let deps = w.layers("deps", 1);
    w.function("orders", &deps, Some(&[("TABLE", "orders"), ("LOG_LEVEL", "info")]));
    let before = w.config("orders");
    assert_eq!(before, Config { layers: deps.clone(), vars: vars(&[("TABLE", "orders"), ("LOG_LEVEL", "info")]) });

    // --dry-run prints the change and changes nothing.
    let dry = w.instrument("orders", &rampart[1], &["--dry-run"]);
    dry.ok();
    let expected_change = format!(
        "instrument arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders:\n  layers before:\n    {d}\n  layers after:\n    {d}\n    {r}\n  \
         AWS_LAMBDA_EXEC_WRAPPER: (unset) -> {WRAPPER}\n  RAMPART_POLICY: (unset) -> s3://policies/orders\n  \
         RAMPART_UNINSTRUMENT: (unset) -> {{\"layer\":\"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:rampart\"}}\n  2 other variables unchanged\n",
        d = deps[0],
        r = rampart[1]
    );
    assert_eq!(dry.stdout, format!("{expected_change}dry run: nothing changed\n"), "{dry:#?}");
    assert_eq!(w.config("orders"), before);
    let updates = || w.moto.requests("\"PUT /2015-03-31/functions/orders/configuration HTTP/1.1\" 200");
    assert_eq!(updates(), 0);

    let done = w.instrument("orders", &rampart[1], &[]);
    done.ok();
    assert!(done.stdout.starts_with(&expected_change), "{done:#?}");
    assert!(done.stdout.contains("updated orders: LastUpdateStatus Successful after"), "{done:#?}");
    let after = w.config("orders");
    let saved = format!("{{\"layer\":\"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:rampart\"}}");
    assert_eq!(
        after,
        Config {
            layers: vec![deps[0].clone(), rampart[1].clone()],
            vars: vars(&[
                ("TABLE", "orders"),
                ("LOG_LEVEL", "info"),
                ("AWS_LAMBDA_EXEC_WRAPPER", WRAPPER),
                ("RAMPART_POLICY", "s3://policies/orders"),
                ("RAMPART_UNINSTRUMENT", &saved),
            ]),
        }
    );

    // Again: nothing to change, and nothing changed.
    let again = w.instrument("orders", &rampart[1], &[]);
    assert_eq!(
        again.ok().stdout,
        format!("orders is already instrumented with {} and s3://policies/orders: nothing to change\n", rampart[1])
    );
    assert_eq!(w.config("orders"), after);
    assert_eq!(updates(), 1, "the second instrument sent an update");

    // uninstrument --dry-run, then for real: exactly the state before.
    let dry = w.run(&["uninstrument", "--function", "orders", "--dry-run"]);
    assert!(dry.ok().stdout.contains(&format!("AWS_LAMBDA_EXEC_WRAPPER: {WRAPPER} -> (unset)")), "{dry:#?}");
    assert!(dry.stdout.ends_with("dry run: nothing changed\n"), "{dry:#?}");
    assert_eq!(w.config("orders"), after);
    w.run(&["uninstrument", "--function", "orders"]).ok();
    assert_eq!(w.config("orders"), before);
    let again = w.run(&["uninstrument", "--function", "orders"]);
    assert_eq!(again.ok().stdout, "orders is not instrumented (no RAMPART_UNINSTRUMENT variable): nothing to change\n");
    assert_eq!(w.config("orders"), before);
    assert_eq!(updates(), 2);

    // A function with no layers and no variables at all comes back to none.
    w.function("bare", &[], None);
    let bare = w.config("bare");
    assert_eq!(bare, Config { layers: vec![], vars: BTreeMap::new() });
    w.instrument("bare", &rampart[0], &[]).ok();
    assert_eq!(w.config("bare").layers, [rampart[0].clone()]);
    w.run(&["uninstrument", "--function", "bare"]).ok();
    assert_eq!(w.config("bare"), bare);
}

#[test]
fn a_newer_rampart_layer_replaces_the_older_in_place() {
    let w = World::new();
    let rampart = w.layers("rampart", 2);
    let ext = w.layers("ext", 1);
    let deps = w.layers("deps", 1);
    let before_layers = vec![ext[0].clone(), rampart[0].clone(), deps[0].clone()];
    w.function("api", &before_layers, Some(&[("K", "v")]));

    let out = w.instrument("api", &rampart[1], &[]);
    assert!(out.ok().stdout.contains(&format!("  note: replaces {}\n", rampart[0])), "{out:#?}");
    let after = w.config("api");
    assert_eq!(after.layers, [ext[0].clone(), rampart[1].clone(), deps[0].clone()]);
    assert_eq!(after.vars.get("AWS_LAMBDA_EXEC_WRAPPER").map(String::as_str), Some(WRAPPER));
    assert_eq!(after.vars.get("K").map(String::as_str), Some("v"));

    // Back to version 1 is a change too (same place), and the saved state is kept.
    w.instrument("api", &rampart[0], &[]).ok();
    let back = w.config("api");
    assert_eq!(back.layers, before_layers);
    assert_eq!(back.vars.get("RAMPART_UNINSTRUMENT"), after.vars.get("RAMPART_UNINSTRUMENT"));

    // Uninstrument: the rampart-less list, the others in their order.
    w.run(&["uninstrument", "--function", "api"]).ok();
    assert_eq!(w.config("api"), Config { layers: vec![ext[0].clone(), deps[0].clone()], vars: vars(&[("K", "v")]) });
}

#[test]
fn another_exec_wrapper_is_refused_without_force_and_restored() {
    let w = World::new();
    let rampart = w.layers("rampart", 1);
    let original = [("AWS_LAMBDA_EXEC_WRAPPER", "/opt/otel-instrument"), ("OTEL_SERVICE_NAME", "traced")];
    w.function("traced", &[], Some(&original));
    let before = w.config("traced");

    let e = w.instrument("traced", &rampart[0], &[]).fails();
    assert_eq!(
        e,
        "rampart: traced already has AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument: another exec wrapper, which rampart's would replace; give --force to replace it (uninstrument puts it back)"
    );
    assert_eq!(w.config("traced"), before);
    // --dry-run does not get past the refusal either.
    w.instrument("traced", &rampart[0], &["--dry-run"]).fails();

    let out = w.instrument("traced", &rampart[0], &["--force"]);
    assert!(
        out.ok().stdout.contains("AWS_LAMBDA_EXEC_WRAPPER: /opt/otel-instrument -> /opt/rampart/wrapper"),
        "{out:#?}"
    );
    assert!(out.stdout.contains("note: replaces the exec wrapper /opt/otel-instrument (--force)"), "{out:#?}");
    let after = w.config("traced");
    assert_eq!(after.vars.get("AWS_LAMBDA_EXEC_WRAPPER").map(String::as_str), Some(WRAPPER));
    let saved: Value = serde_json::from_str(&after.vars["RAMPART_UNINSTRUMENT"]).unwrap();
    assert_eq!(saved["wrapper"], "/opt/otel-instrument");
    // Instrumented now: no --force needed to run it again.
    w.instrument("traced", &rampart[0], &[]).ok();

    w.run(&["uninstrument", "--function", "traced"]).ok();
    assert_eq!(w.config("traced"), before);
}

#[test]
fn bad_input_is_one_clear_line_and_changes_nothing() {
    let w = World::new();
    let rampart = w.layers("rampart", 1);
    let five: Vec<String> =
        w.moto.py("for i in range(1, 6): print(layer(f'l{i}'))", "").lines().map(str::to_owned).collect();
    assert_eq!(five, (1..=5).map(|i| layer_arn(&format!("l{i}"), 1)).collect::<Vec<_>>());
    w.function("full", &five, Some(&[("K", "v")]));
    let big = "x".repeat(4000);
    w.function("roomy", &[], Some(&[("BIG", &big)]));
    w.function("byhand", &rampart, Some(&[("AWS_LAMBDA_EXEC_WRAPPER", WRAPPER), ("RAMPART_POLICY", "s3://p/q")]));
    let full = w.config("full");
    let roomy = w.config("roomy");

    let e = w.instrument("full", "rampart:1", &[]).fails();
    assert!(e.starts_with("rampart: \"rampart:1\" is not a layer version ARN"), "{e}");
    let e = w.instrument("full", &format!("arn:aws:lambda:{REGION}:{ACCOUNT}:layer:rampart"), &[]).fails();
    assert!(e.contains("is not a layer version ARN"), "{e}");
    let e =
        w.run(&["instrument", "--function", "full", "--layer", &rampart[0], "--policy", "https://bucket/x"]).fails();
    assert!(e.starts_with("rampart: --policy: \"https://bucket/x\" is not an S3 location"), "{e}");
    let e =
        w.run(&["instrument", "--function", "full", "--layer", &rampart[0], "--policy", "s3://Bad_Bucket/x"]).fails();
    assert!(e.contains("invalid bucket name"), "{e}");
    let e = w.instrument("no/such", &rampart[0], &[]).fails();
    assert!(e.contains("is not a Lambda function name or ARN"), "{e}");
    let e = w.instrument("full", &format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:rampart:1"), &[]).fails();
    assert!(e.contains("is in region eu-west-1, the function in us-east-1"), "{e}");

    let e = w.instrument("full", &rampart[0], &[]).fails();
    assert!(e.starts_with("rampart: full would have 6 layers with rampart's, and Lambda allows 5"), "{e}");
    assert_eq!(w.config("full"), full);
    let e = w.instrument("roomy", &rampart[0], &[]).fails();
    assert!(e.contains("would take") && e.contains("Lambda allows 4096 (4 KB"), "{e}");
    assert_eq!(w.config("roomy"), roomy);

    let e = w.instrument("nope", &rampart[0], &[]).fails();
    assert!(e.starts_with("rampart: function nope not found in region us-east-1"), "{e}");
    assert!(e.contains("ResourceNotFoundException"), "{e}");
    // A layer version that was never published: Lambda (moto) refuses the update.
    w.function("small", &[], None);
    let e = w.instrument("small", &layer_arn("rampart", 9), &[]).fails();
    assert!(e.contains("LayerVersion does not exist") && e.contains("publish the layer version"), "{e}");
    assert_eq!(w.config("small"), Config { layers: vec![], vars: BTreeMap::new() });

    let e = w.run(&["uninstrument", "--function", "byhand"]).fails();
    assert!(e.contains("runs rampart's wrapper but has no RAMPART_UNINSTRUMENT variable"), "{e}");

    // No credentials at all.
    let env: Vec<(String, String)> = w
        .moto
        .env()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
        .collect();
    let e = w
        .run_env(&["instrument", "--function", "small", "--layer", &rampart[0], "--policy", "s3://policies/q"], &env)
        .fails();
    assert!(e.starts_with("rampart: no AWS credentials found for profile \"default\""), "{e}");
    // Nothing listening.
    let mut env = w.moto.env();
    env[0].1 = "http://127.0.0.1:9".to_owned();
    let e = w.run_env(&["uninstrument", "--function", "small"], &env).fails();
    assert!(e.contains("cannot connect to 127.0.0.1:9"), "{e}");
    // AWS_ENDPOINT_URL_LAMBDA wins over AWS_ENDPOINT_URL.
    env.push(("AWS_ENDPOINT_URL_LAMBDA".to_owned(), w.moto.endpoint()));
    let out = w.run_env(&["uninstrument", "--function", "small"], &env);
    assert!(out.ok().stdout.contains("small is not instrumented"), "{out:#?}");
}

/// A rampart event line.
fn line(kind: &str, cat: &str, target: &str, extra: &str) -> String {
    format!(
        "{{\"rampart\":1,\"type\":\"{kind}\",\"cat\":\"{cat}\",\"op\":\"x\",\"target\":\"{target}\"{extra},\"pid\":8,\"req\":null,\"fn\":\"orders\",\"ts\":1}}\n"
    )
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// `/aws/lambda/orders` with one stream: an old rampart line three hours
/// ago, then 10 050 recent events (one page is 10 000) where every 50th is
/// a rampart line and the rest are the function's own output; the last
/// event, on the second page, is the only one with /var/task/late.py.
fn orders_log(w: &World) -> usize {
    let start = now_ms() - 30 * 60 * 1000;
    let mut events = vec![
        json!({"timestamp": now_ms() - 3 * 3600 * 1000, "message": line("profile", "file", "/opt/old/only-old.py", ",\"access\":\"r\"")}),
    ];
    let recurring = [
        line("profile", "file", "/var/task/app.py", ",\"access\":\"r\""),
        line("profile", "network", "dynamodb.us-east-1.amazonaws.com:443", ""),
        line("profile", "process", "/usr/bin/git", ""),
        line("profile", "input", "aws:sqs", ""),
        line("alert", "file", "/etc/hosts", ",\"access\":\"r\""),
        line("block", "network", "203.0.113.9:4444", ""),
    ];
    for i in 0..10_049usize {
        let message = if i % 50 == 0 {
            recurring[(i / 50) % recurring.len()].clone()
        } else {
            format!("START RequestId: {i:08x} Version: $LATEST\n")
        };
        events.push(json!({"timestamp": start + i as i64, "message": message}));
    }
    events.push(json!({"timestamp": start + 20_000, "message": line("profile", "file", "/var/task/late.py", ",\"access\":\"r\"")}));
    let n = events.len();
    w.moto.py(
        "ev = json.load(sys.stdin)\n\
         logs.create_log_group(logGroupName='/aws/lambda/orders')\n\
         logs.create_log_stream(logGroupName='/aws/lambda/orders', logStreamName='2026/12/01/[$LATEST]abc')\n\
         for i in range(0, len(ev), 2000):\n    \
             r = logs.put_log_events(logGroupName='/aws/lambda/orders', logStreamName='2026/12/01/[$LATEST]abc', logEvents=ev[i:i+2000])\n    \
             assert not r.get('rejectedLogEventsInfo'), r",
        &Value::Array(events).to_string(),
    );
    n
}

fn allow(policy: &str) -> Value {
    let doc: Value = serde_json::from_str(policy).unwrap_or_else(|e| panic!("{e}: {policy}"));
    assert_eq!(doc["mode"], "alert");
    doc["allow"].clone()
}

#[test]
fn learn_from_a_log_group_page_by_page() {
    let w = World::new();
    let n = orders_log(&w);
    assert_eq!(n, 10_051);

    let out = w.run(&["learn", "--function", "orders", "--since", "1h"]);
    out.ok();
    assert_eq!(
        allow(&out.stdout),
        json!({
            "api": [],
            "file": ["r /etc/hosts", "r /var/task/app.py", "r /var/task/late.py"],
            "network": ["dynamodb.us-east-1.amazonaws.com:443"],
            "process": ["/usr/bin/git"],
            "input": ["aws:sqs"]
        }),
        "{out:#?}"
    );
    // Two pages of 10 000 and 50 events (moto ignores the JSON filter and
    // returns every event; the learner skips the function's own lines).
    let progress: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("reading ")).collect();
    assert_eq!(
        progress,
        [
            "reading /aws/lambda/orders (last 1h): page 1, 10000 events, 200 rampart lines",
            "reading /aws/lambda/orders (last 1h): page 2, 10050 events, 202 rampart lines",
        ],
        "{out:#?}"
    );
    assert!(out.stderr.contains("block line not learned: network 203.0.113.9:4444"), "{out:#?}");

    // --since 4h reaches the old line too; -o and --json work as for files.
    let out = w.run(&["learn", "--function", "orders", "--since", "4h", "-o", "p.json", "--json"]);
    let summary: Value = serde_json::from_str(&out.ok().stdout).unwrap();
    assert_eq!(summary["policy"], "p.json", "{summary}");
    let policy = std::fs::read_to_string(w.home.path().join("p.json")).unwrap();
    assert_eq!(
        allow(&policy)["file"],
        json!(["r /etc/hosts", "r /opt/old/only-old.py", "r /var/task/app.py", "r /var/task/late.py"])
    );

    // --policy IN extends: learning the same window again adds nothing.
    let out = w.run(&["learn", "--function", "orders", "--since", "4h", "--policy", "p.json"]);
    assert!(out.ok().stderr.contains("p.json: unchanged"), "{out:#?}");

    // --no-filter reads the same events here (moto ignores the filter either way).
    let out = w.run(&["learn", "--function", "orders", "--since", "1h", "--no-filter"]);
    assert!(out.ok().stderr.contains("page 2, 10050 events, 202 rampart lines"), "{out:#?}");
}

#[test]
fn learn_from_a_missing_log_group_or_with_bad_options() {
    let w = World::new();
    let e = w.run(&["learn", "--function", "ghost"]).fails();
    assert!(e.starts_with("rampart: log group /aws/lambda/ghost not found in region us-east-1"), "{e}");
    assert!(e.contains("ResourceNotFoundException: The specified log group does not exist."), "{e}");
    for (since, _) in [("1w", ()), ("h", ()), ("0m", ())] {
        let e = w.run(&["learn", "--function", "ghost", "--since", since]).fails();
        assert!(e.contains("expected a number and a unit"), "{e}");
    }
    let e = w.run(&["learn", "--since", "1h"]).fails();
    assert!(e.contains("--function"), "{e}");
    let e = w.run(&["learn", "--function", "ghost", "log.txt"]).fails();
    assert!(e.contains("cannot be used with"), "{e}");
    let e = w.run(&["learn", "--region", "eu-west-1", "log.txt"]).fails();
    assert_eq!(e, "rampart: --profile and --region go with --function (reading a log group)");
    // AWS_ENDPOINT_URL_CLOUDWATCH_LOGS wins over AWS_ENDPOINT_URL: moto answers, not the dead port.
    let mut env = w.moto.env();
    env[0].1 = "http://127.0.0.1:9".to_owned();
    let e = w.run_env(&["learn", "--function", "ghost"], &env).fails();
    assert!(e.contains("cannot connect to 127.0.0.1:9"), "{e}");
    env.push(("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS".to_owned(), w.moto.endpoint()));
    let e = w.run_env(&["learn", "--function", "ghost"], &env).fails();
    assert!(e.starts_with("rampart: log group /aws/lambda/ghost not found"), "{e}");
}

/// moto with authentication on: the Logs request's signature is recomputed
/// by botocore inside moto, and the user's IAM policy is enforced. (moto
/// 5.2 cannot check Lambda's GET requests this way: it rejects boto3's own
/// signature for GetFunctionConfiguration too.)
#[test]
fn learn_with_signatures_and_permissions_checked() {
    let w = World::new();
    orders_log(&w);
    let keys = w.moto.py(
        "for user, actions in [('learner', ['logs:FilterLogEvents']), ('deployer', ['lambda:GetFunctionConfiguration'])]:\n    \
             iam.create_user(UserName=user)\n    \
             iam.put_user_policy(UserName=user, PolicyName='p', PolicyDocument=json.dumps({'Version': '2012-10-17',\n        \
                 'Statement': [{'Effect': 'Allow', 'Action': actions, 'Resource': '*'}]}))\n    \
             k = iam.create_access_key(UserName=user)['AccessKey']\n    \
             print(k['AccessKeyId'], k['SecretAccessKey'])",
        "",
    );
    let keys: Vec<Vec<&str>> = keys.lines().map(|l| l.split(' ').collect()).collect();
    w.moto.require_auth();
    let with = |id: &str, secret: &str| {
        let mut env = w.moto.env();
        env[1].1 = id.to_owned();
        env[2].1 = secret.to_owned();
        env
    };
    let out = w.run_env(&["learn", "--function", "orders", "--since", "1h"], &with(keys[0][0], keys[0][1]));
    assert_eq!(allow(&out.ok().stdout)["process"], json!(["/usr/bin/git"]), "{out:#?}");

    let e = w.run_env(&["learn", "--function", "orders"], &with(keys[0][0], "wrong-secret")).fails();
    assert!(e.contains("SignatureDoesNotMatch"), "{e}");
    assert!(e.ends_with("(the secret access key does not belong to the access key id, or the clock is off)"), "{e}");
    let e = w.run_env(&["learn", "--function", "orders"], &with(keys[1][0], keys[1][1])).fails();
    assert!(e.contains("is not authorized to perform: logs:FilterLogEvents"), "{e}");
    assert!(e.ends_with("(these credentials need logs:FilterLogEvents)"), "{e}");
}
