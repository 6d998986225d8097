//! The infrastructure-as-code snippets and CloudWatch queries in deploy/,
//! checked with the real tools where they install here (`cargo xtask test`
//! installs them: xtask/src/runtimes.rs, versions in
//! tests/runtimes/deploy/versions.txt):
//!
//! - SAM and CloudFormation: cfn-lint, zero errors and warnings, and an
//!   error on a broken copy (so the check can fail); then the decoded
//!   templates' layer, environment, IAM and metric filter.
//! - Terraform: HashiCorp's HCL parser (`hclfmt -check`, canonical layout,
//!   and a broken copy rejected); python-hcl2's parse for the structure and
//!   for every `var.`, `local.`, resource and data reference resolving. No
//!   terraform binary installs from the registries here (and `terraform
//!   validate` would need the AWS provider).
//! - CDK: `tsc` against aws-cdk-lib and constructs from npm, then the app
//!   synthesized by aws-cdk-lib itself (new role on x86_64; an existing role
//!   on arm64) and the templates it writes linted and inspected.
//! - Logs Insights queries: no engine runs locally (moto's `StartQuery`
//!   reads only `fields`, `sort` and `limit`), so a grammar of the query
//!   language's commands, operators and functions (from AWS's query syntax
//!   reference) parses them, and every field they name must be a
//!   CloudWatch-generated one or a key of a line the built library writes.
//! - The metric filter pattern: moto's FilterLogEvents treats JSON patterns
//!   as "match everything" and has no TestMetricFilter, so it cannot judge
//!   one. The pattern is read by a small evaluator of the JSON-pattern
//!   subset it uses and must match the library's real block lines and no
//!   other line; every snippet must carry the same pattern.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use rampart_tests::runtimes_common::{base_file_rules, realpath};
use rampart_tests::{rampart_lib, rampart_run, rie::cache_dir, versions_value, write_policy};
use serde_json::{Value, json};

const VERSIONS: &str = include_str!("../runtimes/deploy/versions.txt");
const INSTALL: &str = "run `cargo xtask test` (xtask/src/runtimes.rs installs the deploy tools)";

fn version(key: &str) -> &'static str {
    versions_value("tests/runtimes/deploy/versions.txt", VERSIONS, key)
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e} ({INSTALL})", cmd.get_program()))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The block-line pattern every snippet uses (deploy/cloudwatch/block-lines.pattern).
fn block_pattern() -> String {
    read(&deploy().join("cloudwatch/block-lines.pattern")).trim().to_owned()
}

/// `s` with `from` replaced once; panics if `from` is not there (a broken
/// copy that is not broken would make the negative check pass vacuously).
fn replace_once(s: &str, from: &str, to: &str) -> String {
    assert!(s.contains(from), "{from:?} is not in the snippet any more: update the broken copy");
    s.replacen(from, to, 1)
}

// ---------------------------------------------------------------------------
// cfn-lint

/// cfn-lint's findings for `files`, as `(file, level, rule, message)`.
fn cfn_lint(files: &[&Path], extra: &[&str]) -> Vec<(String, String, String, String)> {
    let out = output(
        Command::new("python3")
            .args(["-c", "import sys; from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; sys.exit(main())"])
            .args(["--format", "json"])
            .args(files)
            // After the files: `--ignore-checks` takes every word after it.
            .args(extra),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let found: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("cfn-lint did not print JSON ({e}); {INSTALL}\n{}", text(&out)));
    found
        .as_array()
        .expect("cfn-lint's JSON is a list")
        .iter()
        .map(|m| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (s(&m["Filename"]), s(&m["Level"]), s(&m["Rule"]["Id"]), s(&m["Message"]))
        })
        .collect()
}

fn assert_cfn_lint_version() {
    let out =
        output(Command::new("python3").args(["-c", "import importlib.metadata as m; print(m.version('cfn-lint'))"]));
    let found = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(found, version("CFN_LINT_VERSION"), "cfn-lint version ({INSTALL})");
}

/// Templates decoded by cfn-lint's own YAML reader (short-form tags become
/// `{"Ref": ...}`, `{"Fn::Sub": ...}`), as JSON.
fn decode_templates(files: &[&Path]) -> Vec<Value> {
    let script = "import json, sys\nfrom cfnlint.decode import decode\nout = []\nfor f in sys.argv[1:]:\n    \
                  tpl, problems = decode(f)\n    assert not problems, problems\n    out.append(tpl)\nprint(json.dumps(out))";
    let out = output(Command::new("python3").args(["-c", script]).args(files));
    assert!(out.status.success(), "decoding templates failed: {}", text(&out));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("decoded templates")
}

fn resources_of<'a>(tpl: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    tpl["Resources"].as_object().expect("Resources").iter().filter(|(_, r)| r["Type"] == kind).collect()
}

fn one_resource<'a>(tpl: &'a Value, kind: &str) -> &'a Value {
    let found = resources_of(tpl, kind);
    assert_eq!(found.len(), 1, "one {kind} in the template");
    &found[0].1["Properties"]
}

/// Every IAM statement in a template (a `Fn::If` contributes both branches).
fn statements(doc: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(m) if m.contains_key("Effect") => out.push(v.clone()),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(doc, &mut out);
    out
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
        other => panic!("Action {other}"),
    }
}

/// The statements of a template's IAM policies: only reads, and the read
/// of the policy object is there.
fn check_iam(what: &str, policies: &Value, policy_object: &Value) {
    let all = statements(policies);
    let mut got: BTreeMap<String, Value> = BTreeMap::new();
    for s in &all {
        if s["Principal"].is_object() {
            continue; // a trust policy
        }
        assert_eq!(s["Effect"], "Allow", "{what}: {s}");
        for action in actions(s) {
            assert!(
                ["s3:GetObject", "s3:ListBucket", "kms:Decrypt"].contains(&action.as_str()),
                "{what}: the role gets only reads, not {action}"
            );
            got.insert(action, s["Resource"].clone());
        }
    }
    assert_eq!(got.get("s3:GetObject"), Some(policy_object), "{what}: s3:GetObject on the policy object\n{all:#?}");
}

fn check_function_environment(what: &str, env: &Value) {
    assert_eq!(env["AWS_LAMBDA_EXEC_WRAPPER"], "/opt/rampart/wrapper", "{what}: {env}");
    assert_eq!(env["RAMPART_POLICY"], json!({"Fn::Sub": "s3://${PolicyBucket}/${PolicyPrefix}"}), "{what}");
    assert_eq!(env["RAMPART_MODE"], json!({"Fn::If": ["HasMode", {"Ref": "Mode"}, {"Ref": "AWS::NoValue"}]}), "{what}");
    assert_eq!(env["RAMPART_REQUIRE"], json!({"Fn::If": ["Require", "1", {"Ref": "AWS::NoValue"}]}), "{what}");
}

fn check_logs(what: &str, tpl: &Value) {
    let group = one_resource(tpl, "AWS::Logs::LogGroup");
    assert_eq!(group["LogGroupName"], json!({"Fn::Sub": "/aws/lambda/${Function}"}), "{what}: Lambda's default group");
    let filter = one_resource(tpl, "AWS::Logs::MetricFilter");
    assert_eq!(filter["FilterPattern"], block_pattern(), "{what}: the block-line pattern");
    let metric = &filter["MetricTransformations"][0];
    assert_eq!((&metric["MetricNamespace"], &metric["MetricName"]), (&json!("Rampart"), &json!("Blocks")), "{what}");
    let alarm = one_resource(tpl, "AWS::CloudWatch::Alarm");
    assert_eq!((&alarm["Namespace"], &alarm["MetricName"]), (&json!("Rampart"), &json!("Blocks")), "{what}");
    assert_eq!(alarm["Dimensions"][0]["Value"], json!({"Ref": "Function"}), "{what}");
}

fn check_parameters(what: &str, tpl: &Value) {
    let p = &tpl["Parameters"];
    for name in ["RampartLayerArn", "Architecture", "PolicyBucket", "PolicyPrefix", "Mode"] {
        assert!(p[name].is_object(), "{what}: parameter {name}");
    }
    assert_eq!(p["Architecture"]["AllowedValues"], json!(["x86_64", "arm64"]), "{what}");
    assert_eq!(p["Mode"]["AllowedValues"], json!(["", "profile", "alert", "block", "off"]), "{what}");
}

#[test]
fn sam_and_cloudformation_templates_pass_cfn_lint() {
    assert_cfn_lint_version();
    let cfn = deploy().join("cloudformation/rampart-function.yaml");
    let sam = deploy().join("sam/template.yaml");
    // Broken copies: an undefined parameter (the SAM copy keeps its code
    // directory beside it) and an architecture Lambda does not have.
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken_sam = tmp.path().join("sam.yaml");
    write(&broken_sam, &replace_once(&read(&sam), "Layers: [!Ref RampartLayerArn]", "Layers: [!Ref RampartLayer]"));
    std::fs::create_dir(tmp.path().join("app")).expect("mkdir");
    let broken_cfn = tmp.path().join("cfn.yaml");
    write(
        &broken_cfn,
        &replace_once(&read(&cfn), "Architectures: [!Ref Architecture]", "Architectures: [!Ref Architecture, x86]"),
    );
    let findings = cfn_lint(&[&sam, &cfn, &broken_sam, &broken_cfn], &[]);
    let of = |f: &Path| -> Vec<_> { findings.iter().filter(|m| Path::new(&m.0) == f).collect() };
    assert!(of(&sam).is_empty() && of(&cfn).is_empty(), "cfn-lint on deploy/:\n{findings:#?}");
    assert!(
        of(&broken_sam).iter().any(|m| m.1 == "Error" && m.2 == "E1020" && m.3.contains("RampartLayer")),
        "cfn-lint must reject the reference to an undefined parameter:\n{findings:#?}"
    );
    assert!(
        of(&broken_cfn).iter().any(|m| m.1 == "Error" && m.3.contains("'x86'")),
        "cfn-lint must reject the architecture:\n{findings:#?}"
    );

    let decoded = decode_templates(&[&cfn, &sam]);
    let (cfn_tpl, sam_tpl) = (&decoded[0], &decoded[1]);
    let object = json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${PolicyBucket}/${PolicyPrefix}/policy.json"});

    let f = one_resource(cfn_tpl, "AWS::Lambda::Function");
    assert_eq!(f["Layers"], json!([{"Ref": "RampartLayerArn"}]), "CloudFormation: the layer");
    assert_eq!(f["Architectures"], json!([{"Ref": "Architecture"}]), "CloudFormation");
    check_function_environment("CloudFormation", &f["Environment"]["Variables"]);
    assert_eq!(f["LoggingConfig"]["LogFormat"], "Text", "CloudFormation: lines as events of their own");
    // A new role or an existing one: both branches, and the read policy on
    // whichever it is.
    assert_eq!(f["Role"]["Fn::If"][0], "CreateRole", "CloudFormation: {}", f["Role"]);
    let read_access = one_resource(cfn_tpl, "AWS::IAM::RolePolicy");
    assert_eq!(
        read_access["RoleName"],
        json!({"Fn::If": ["CreateRole", {"Ref": "FunctionRole"}, {"Ref": "ExistingRoleName"}]})
    );
    check_iam("CloudFormation", &cfn_tpl["Resources"], &object);
    check_logs("CloudFormation", cfn_tpl);
    check_parameters("CloudFormation", cfn_tpl);

    let f = one_resource(sam_tpl, "AWS::Serverless::Function");
    assert_eq!(f["Layers"], json!([{"Ref": "RampartLayerArn"}]), "SAM: the layer");
    assert_eq!(f["Architectures"], json!([{"Ref": "Architecture"}]), "SAM");
    check_function_environment("SAM", &f["Environment"]["Variables"]);
    assert_eq!(f["LoggingConfig"]["LogFormat"], "Text", "SAM: lines as events of their own");
    check_iam("SAM", &f["Policies"], &object);
    check_logs("SAM", sam_tpl);
    check_parameters("SAM", sam_tpl);
}

// ---------------------------------------------------------------------------
// Terraform

fn hclfmt() -> PathBuf {
    if let Some(path) = std::env::var_os("HCLFMT") {
        return PathBuf::from(path);
    }
    let gobin = std::env::var_os("GOBIN").filter(|v| !v.is_empty()).map(PathBuf::from).or_else(|| {
        let out = Command::new("go").args(["env", "GOPATH"]).output().ok()?;
        let gopath = String::from_utf8_lossy(&out.stdout).trim().split(':').next()?.to_owned();
        (!gopath.is_empty()).then(|| Path::new(&gopath).join("bin"))
    });
    let path = gobin.map(|d| d.join("hclfmt")).unwrap_or_else(|| PathBuf::from("hclfmt"));
    let out = output(Command::new("go").arg("version").arg("-m").arg(&path));
    let module = format!("mod\t{}\t{}", version("HCL_MODULE"), version("HCL_VERSION"));
    assert!(text(&out).contains(&module), "{} is not built from {module} ({INSTALL}):\n{}", path.display(), text(&out));
    path
}

fn terraform_files() -> Vec<PathBuf> {
    let dir = deploy().join("terraform");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/terraform")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .collect();
    files.sort();
    files
}

/// python-hcl2's JSON for each file, keyed by file name.
fn parse_hcl(files: &[PathBuf]) -> BTreeMap<String, Value> {
    let script = "import importlib.metadata as m, json, os, sys, hcl2\nprint(json.dumps({'version': m.version('python-hcl2'), \
                  'files': {os.path.basename(f): hcl2.load(open(f)) for f in sys.argv[1:]}}))";
    let out = output(Command::new("python3").args(["-c", script]).args(files));
    assert!(out.status.success(), "python-hcl2 failed ({INSTALL}):\n{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("python-hcl2 JSON");
    assert_eq!(v["version"], version("PYTHON_HCL2_VERSION"), "python-hcl2 version ({INSTALL})");
    v["files"].as_object().expect("files").iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A python-hcl2 string literal (kept in its quotes) as its value.
fn hcl_str(v: &Value) -> String {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    let inner = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or_else(|| panic!("not a literal: {s}"));
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

/// `{"TYPE": {"NAME": body}}` blocks of a kind (`resource`, `data`, `variable`...) as (TYPE, NAME, body).
fn blocks<'a>(files: &'a BTreeMap<String, Value>, kind: &str) -> Vec<(String, String, &'a Value)> {
    let mut out = Vec::new();
    for file in files.values() {
        for block in file[kind].as_array().into_iter().flatten() {
            for (ty, named) in block.as_object().expect("block") {
                let ty = ty.trim_matches('"').to_owned();
                match named.as_object() {
                    Some(m) if !m.contains_key("__is_block__") => {
                        for (name, body) in m {
                            out.push((ty.clone(), name.trim_matches('"').to_owned(), body));
                        }
                    }
                    _ => out.push((ty.clone(), String::new(), named)),
                }
            }
        }
    }
    out
}

fn every_string(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Object(m) => m.values().for_each(|x| every_string(x, out)),
        Value::Array(a) => a.iter().for_each(|x| every_string(x, out)),
        _ => {}
    }
}

/// `prefix.NAME` references in expression text (`var.x`, `local.y`).
fn references(texts: &[String], prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in texts {
        let mut rest = t.as_str();
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            let after = &rest[at + prefix.len()..];
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') && !name.is_empty() {
                out.insert(name);
            }
            rest = after;
        }
    }
    out
}

#[test]
fn terraform_parses_and_references_resolve() {
    let files = terraform_files();
    assert!(files.len() >= 3, "deploy/terraform has main.tf, variables.tf, outputs.tf: {files:?}");
    // HashiCorp's parser: a syntax check and the canonical layout, and a
    // broken copy rejected.
    let hclfmt = hclfmt();
    let out = output(Command::new(&hclfmt).args(["-check", "-require-no-change"]).args(&files));
    assert!(out.status.success(), "hclfmt -check -require-no-change:\n{}", String::from_utf8_lossy(&out.stderr));
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken = tmp.path().join("main.tf");
    write(&broken, &replace_once(&read(&files[0]), "layers           = [var.layer_arn]", "layers = [var.layer_arn"));
    let out = output(Command::new(&hclfmt).arg("-check").arg(&broken));
    assert!(!out.status.success(), "hclfmt must reject an unclosed list:\n{}", text(&out));

    let parsed = parse_hcl(&files);
    let resources = blocks(&parsed, "resource");
    let data = blocks(&parsed, "data");
    let variables: BTreeSet<String> = blocks(&parsed, "variable").into_iter().map(|(ty, _, _)| ty).collect();
    let locals: BTreeMap<String, Value> = parsed
        .values()
        .flat_map(|f| f["locals"].as_array().into_iter().flatten())
        .flat_map(|l| l.as_object().expect("locals").iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect();
    let resource = |ty: &str, name: &str| -> &Value {
        resources
            .iter()
            .find(|(t, n, _)| t == ty && n == name)
            .map(|(_, _, body)| *body)
            .unwrap_or_else(|| panic!("resource {ty}.{name} in deploy/terraform"))
    };

    for name in ["layer_arn", "architecture", "policy_bucket", "policy_prefix", "mode", "existing_role_name"] {
        assert!(variables.contains(name), "variable {name}");
    }
    let f = resource("aws_lambda_function", "function");
    assert_eq!(f["layers"], json!(["${var.layer_arn}"]), "the layer");
    assert_eq!(f["architectures"], json!(["${var.architecture}"]));
    assert_eq!(f["environment"][0]["variables"], "${local.environment}");
    assert_eq!(f["role"], "${local.role_arn}");
    assert_eq!(hcl_str(&f["logging_config"][0]["log_format"]), "Text", "lines as events of their own");
    assert_eq!(hcl_str(&locals["policy_location"]), "s3://${var.policy_bucket}/${var.policy_prefix}");
    let env = locals["environment"].as_str().expect("local.environment");
    for want in [
        "AWS_LAMBDA_EXEC_WRAPPER = \"/opt/rampart/wrapper\"",
        "RAMPART_POLICY = local.policy_location",
        "RAMPART_MODE = var.mode",
        "RAMPART_REQUIRE = \"1\"",
    ] {
        assert!(env.contains(want), "local.environment has {want}: {env}");
    }
    // A new role or an existing one.
    assert_eq!(resource("aws_iam_role", "function")["count"], "${var.existing_role_name == null ? 1 : 0}");
    assert_eq!(resource("aws_iam_role_policy", "rampart_policy_read")["role"], "${local.role_name}");
    let doc = data
        .iter()
        .find(|(t, n, _)| t == "aws_iam_policy_document" && n == "rampart_policy_read")
        .map(|(_, _, b)| *b)
        .expect("data.aws_iam_policy_document.rampart_policy_read");
    let mut granted = BTreeMap::new();
    let mut add = |s: &Value| {
        for a in s["actions"].as_array().expect("actions") {
            granted.insert(hcl_str(a), s["resources"].clone());
        }
    };
    doc["statement"].as_array().expect("statement").iter().for_each(&mut add);
    for d in doc["dynamic"].as_array().into_iter().flatten() {
        d["\"statement\""]["content"].as_array().expect("content").iter().for_each(&mut add);
    }
    assert_eq!(
        granted.keys().map(String::as_str).collect::<Vec<_>>(),
        ["kms:Decrypt", "s3:GetObject", "s3:ListBucket"],
        "only reads"
    );
    assert_eq!(
        hcl_str(&granted["s3:GetObject"][0]),
        "arn:${data.aws_partition.current.partition}:s3:::${var.policy_bucket}/${var.policy_prefix}/policy.json"
    );
    let filter = resource("aws_cloudwatch_log_metric_filter", "blocks");
    assert_eq!(hcl_str(&filter["pattern"]), block_pattern(), "the block-line pattern");
    assert_eq!(filter["log_group_name"], "${aws_cloudwatch_log_group.function.name}");
    assert_eq!(hcl_str(&resource("aws_cloudwatch_log_group", "function")["name"]), "/aws/lambda/${var.function_name}");
    let alarm = resource("aws_cloudwatch_metric_alarm", "blocks");
    assert_eq!((hcl_str(&alarm["namespace"]), hcl_str(&alarm["metric_name"])), ("Rampart".into(), "Blocks".into()));

    // What `terraform validate` would catch first: references to things
    // that are not declared.
    let mut texts = Vec::new();
    every_string(&Value::Object(parsed.iter().map(|(k, v)| (k.clone(), v.clone())).collect()), &mut texts);
    let undeclared: Vec<String> = references(&texts, "var.").into_iter().filter(|v| !variables.contains(v)).collect();
    assert!(undeclared.is_empty(), "undeclared variables: {undeclared:?}");
    let undefined: Vec<String> = references(&texts, "local.").into_iter().filter(|l| !locals.contains_key(l)).collect();
    assert!(undefined.is_empty(), "undefined locals: {undefined:?}");
    for (declared, data_source) in [(&resources, false), (&data, true)] {
        let kinds: BTreeSet<&String> = declared.iter().map(|(t, _, _)| t).collect();
        for ty in kinds {
            let prefix = if data_source { format!("data.{ty}.") } else { format!("{ty}.") };
            for name in references(&texts, &prefix) {
                assert!(declared.iter().any(|(t, n, _)| t == ty && *n == name), "{prefix}{name} is not declared");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// CDK

/// FNV-1a, 64 bits, as xtask/src/runtimes.rs names the CDK cache directory.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let path = entry.expect("entry").path();
        let dest = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
        }
    }
}

/// Synthesizes the example app with `context`; returns its template.
fn synth(work: &Path, out: &Path, context: &Value) -> std::process::Child {
    Command::new("node")
        .arg(work.join("js/bin/app.js"))
        .current_dir(work)
        .env("CDK_OUTDIR", out)
        .env("CDK_CONTEXT_JSON", context.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node")
}

fn lambda_function(tpl: &Value) -> &Value {
    one_resource(tpl, "AWS::Lambda::Function")
}

#[test]
fn cdk_construct_type_checks_and_synthesizes() {
    let cdk = deploy().join("cdk");
    let lock = std::fs::read(cdk.join("package-lock.json")).expect("deploy/cdk/package-lock.json");
    let cache = cache_dir().join(format!("deploy-cdk-{:016x}", fnv1a(&lock)));
    let modules = cache.join("node_modules");
    let package: Value = serde_json::from_str(&read(&cdk.join("package.json"))).expect("package.json");
    for (name, want) in
        package["dependencies"].as_object().into_iter().chain(package["devDependencies"].as_object()).flatten()
    {
        let installed = modules.join(name).join("package.json");
        let found: Value = serde_json::from_str(
            &std::fs::read_to_string(&installed)
                .unwrap_or_else(|e| panic!("{} is not installed in {} ({e}); {INSTALL}", name, modules.display())),
        )
        .expect("package.json");
        assert_eq!(&found["version"], want, "{name} in {}", modules.display());
    }
    // Beside node_modules, so `aws-cdk-lib` and `@types/node` resolve as
    // they do in a project of one's own.
    let work = tempfile::Builder::new().prefix("work-").tempdir_in(&cache).expect("tempdir in the cache");
    copy_dir(&cdk.join("bin"), &work.path().join("bin"));
    copy_dir(&cdk.join("lib"), &work.path().join("lib"));
    std::fs::copy(cdk.join("tsconfig.json"), work.path().join("tsconfig.json")).expect("tsconfig");
    let out = output(
        Command::new("node")
            .arg(modules.join("typescript/bin/tsc"))
            .arg("-p")
            .arg(work.path())
            .args(["--noEmitOnError", "--pretty", "false", "--outDir"])
            .arg(work.path().join("js")),
    );
    assert!(out.status.success() && out.stdout.is_empty(), "tsc on deploy/cdk:\n{}", text(&out));

    let code = deploy().join("sam/app").canonicalize().expect("deploy/sam/app");
    let layer = "arn:aws:lambda:eu-west-1:123456789012:layer:rampart-x86_64:3";
    let fresh = json!({"layerArn": layer, "policyBucket": "acme-rampart", "codePath": code});
    let role = "arn:aws:iam::123456789012:role/service-role/orders-role-1a2b3c";
    let existing = json!({
        "layerArn": layer.replace("x86_64", "arm64"), "policyBucket": "acme-rampart", "policyPrefix": "prod/orders",
        "functionName": "orders", "architecture": "arm64", "mode": "block", "allowListBucket": "true",
        "existingRoleArn": role, "codePath": code,
    });
    let (out_a, out_b) = (work.path().join("out-fresh"), work.path().join("out-existing"));
    let children = [synth(work.path(), &out_a, &fresh), synth(work.path(), &out_b, &existing)];
    for child in children {
        let done = child.wait_with_output().expect("node");
        assert!(done.status.success(), "synthesizing the example app:\n{}", text(&done));
    }
    let template = |dir: &Path| -> (PathBuf, Value) {
        let path = dir.join("RampartExample.template.json");
        let v = serde_json::from_str(&read(&path)).expect("template JSON");
        (path, v)
    };
    let ((path_a, a), (path_b, b)) = (template(&out_a), template(&out_b));
    // CDK's own templates: W3005 is its habit of adding a DependsOn that a
    // GetAtt already implies, not something the construct does.
    let findings = cfn_lint(&[&path_a, &path_b], &["--ignore-checks", "W3005"]);
    assert!(findings.is_empty(), "cfn-lint on the synthesized templates:\n{findings:#?}");

    let f = lambda_function(&a);
    assert_eq!(f["Layers"], json!([layer]));
    assert_eq!(f["Architectures"], json!(["x86_64"]));
    assert_eq!(
        f["Environment"]["Variables"],
        json!({"AWS_LAMBDA_EXEC_WRAPPER": "/opt/rampart/wrapper", "RAMPART_POLICY": "s3://acme-rampart/rampart-example",
               "RAMPART_REQUIRE": "1"})
    );
    assert_eq!(f["LoggingConfig"]["LogFormat"], "Text", "lines as events of their own");
    assert_eq!(resources_of(&a, "AWS::IAM::Role").len(), 1, "a new role");
    let object = json!({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::acme-rampart/rampart-example/policy.json"]]});
    check_iam("CDK (new role)", &a["Resources"], &object);
    let filter = one_resource(&a, "AWS::Logs::MetricFilter");
    assert_eq!(filter["FilterPattern"], block_pattern());
    assert_eq!(one_resource(&a, "AWS::Logs::LogGroup")["LogGroupName"], "/aws/lambda/rampart-example");
    assert_eq!(one_resource(&a, "AWS::CloudWatch::Alarm")["MetricName"], "Blocks");

    let f = lambda_function(&b);
    assert_eq!(f["Architectures"], json!(["arm64"]));
    assert_eq!(f["Role"], role, "the existing role");
    assert_eq!(f["LoggingConfig"]["LogFormat"], "Text");
    assert_eq!(f["Environment"]["Variables"]["RAMPART_MODE"], "block");
    assert_eq!(f["Environment"]["Variables"]["RAMPART_POLICY"], "s3://acme-rampart/prod/orders");
    assert!(resources_of(&b, "AWS::IAM::Role").is_empty(), "no new role");
    let policy = one_resource(&b, "AWS::IAM::Policy");
    assert_eq!(policy["Roles"], json!(["orders-role-1a2b3c"]), "the read policy on the existing role");
    let object =
        json!({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::acme-rampart/prod/orders/policy.json"]]});
    check_iam("CDK (existing role)", &b["Resources"], &object);
    let listed: Vec<Value> =
        statements(&b["Resources"]).into_iter().filter(|s| actions(s) == ["s3:ListBucket"]).collect();
    assert_eq!(listed.len(), 1, "allowListBucket adds s3:ListBucket");
}

// ---------------------------------------------------------------------------
// Real event lines

/// Lines the built library writes: profile, alert (with a suppressed-alert
/// summary), block, status and error, for files and processes.
fn real_lines() -> &'static [Value] {
    static LINES: OnceLock<Vec<Value>> = OnceLock::new();
    LINES.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let secret = tmp.path().join("secret.txt");
        write(&secret, "x\n");
        let secret = secret.display().to_string();
        // The secret is in a temporary directory, outside every base rule.
        let file = base_file_rules();
        let rules = |v: &[String]| v.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ");
        let process = [realpath("/bin/sh"), realpath("/bin/bash"), realpath("/bin/cat")];
        let policy = write_policy(
            tmp.path(),
            &format!(
                r#"{{"version": 1, "mode": "block", "block": ["file", "process"], "allow": {{"file": [{}], "process": [{}]}}}}"#,
                rules(&file),
                rules(&process)
            ),
        );
        let script = format!("cat {secret}; read x < {secret}; read x < {secret}; /bin/true x; exit 0");
        let mut raw = String::new();
        for mode in ["block", "alert", "profile"] {
            // bash, not dash: dash leaves with _exit, which skips the
            // library's exit-time summary of suppressed alerts.
            let out = output(
                rampart_run(Some(&policy), Some(mode)).env("AWS_LAMBDA_FUNCTION_NAME", "orders").args([
                    "/bin/bash",
                    "-c",
                    &script,
                ]),
            );
            raw.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        // A broken policy: an error line.
        let bad = tmp.path().join("bad.json");
        write(&bad, r#"{"version": 1, "mode": "block", "allow": {"file": ["q /x"]}}"#);
        let out = output(
            Command::new("/bin/true")
                .env("LD_PRELOAD", rampart_lib())
                .env("RAMPART_POLICY", &bad)
                .env("AWS_LAMBDA_FUNCTION_NAME", "orders"),
        );
        raw.push_str(&String::from_utf8_lossy(&out.stderr));
        let lines: Vec<Value> = raw
            .lines()
            .filter(|l| l.starts_with(rampart_event::PREFIX))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        for (kind, cat) in [("block", "file"), ("block", "process"), ("alert", "file"), ("profile", "process")] {
            assert!(lines.iter().any(|l| l["type"] == kind && l["cat"] == cat), "a {kind} {cat} line in\n{raw}");
        }
        assert!(lines.iter().any(|l| l["type"] == "error"), "an error line in\n{raw}");
        assert!(lines.iter().any(|l| l["type"] == "status" && l["count"].is_u64()), "a suppressed count in\n{raw}");
        lines
    })
}

/// Every key the real lines have (`argv.0` style for arrays, as Logs
/// Insights flattens them).
fn real_fields() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in real_lines() {
        for (k, v) in line.as_object().expect("object") {
            out.insert(k.clone());
            if let Value::Array(a) = v {
                out.extend((0..a.len()).map(|i| format!("{k}.{i}")));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Logs Insights queries

/// Fields CloudWatch Logs itself gives every event, and Lambda's log
/// groups' START/END/REPORT lines.
const SYSTEM_FIELDS: &[&str] = &[
    "@timestamp",
    "@message",
    "@logStream",
    "@log",
    "@ingestionTime",
    "@ptr",
    "@requestId",
    "@type",
    "@duration",
    "@billedDuration",
    "@initDuration",
    "@maxMemoryUsed",
    "@memorySize",
];

/// Functions of the query language (Logs Insights' reference); the
/// aggregations only in `stats`.
const AGGREGATIONS: &[&str] = &[
    "avg",
    "count",
    "count_distinct",
    "max",
    "min",
    "pct",
    "stddev",
    "sum",
    "earliest",
    "latest",
    "sortsFirst",
    "sortsLast",
];
const FUNCTIONS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "greatest",
    "least",
    "log",
    "sqrt",
    "bin",
    "datefloor",
    "dateceil",
    "fromMillis",
    "toMillis",
    "coalesce",
    "concat",
    "ltrim",
    "rtrim",
    "trim",
    "strlen",
    "toupper",
    "tolower",
    "substr",
    "replace",
    "strcontains",
    "ispresent",
    "isempty",
    "isblank",
    "isValidIp",
    "isValidIpV4",
    "isValidIpV6",
    "isIpInSubnet",
    "isIpv4InSubnet",
    "isIpv6InSubnet",
];

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    /// A backquoted field name.
    Quoted(String),
    Str,
    Regex,
    Num(String),
    Op(&'static str),
    Pipe,
}

fn tokenize(query: &str) -> Result<Vec<Tok>, String> {
    const OPS: &[&str] = &["!=", "<=", ">=", "=~", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ","];
    let mut toks = Vec::new();
    let mut chars = query.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        let rest = &query[at..];
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' {
            while chars.next_if(|&(_, c)| c != '\n').is_some() {}
        } else if c == '|' {
            chars.next();
            toks.push(Tok::Pipe);
        } else if c == '"' || c == '\'' || c == '`' || (c == '/' && regex_may_start(toks.last())) {
            chars.next();
            let mut closed = false;
            let mut body = String::new();
            while let Some((_, d)) = chars.next() {
                if d == '\\' {
                    chars.next();
                } else if d == c {
                    closed = true;
                    break;
                } else {
                    body.push(d);
                }
            }
            if !closed {
                return Err(format!("unclosed {c} at byte {at}"));
            }
            toks.push(match c {
                '`' => Tok::Quoted(body),
                '/' => Tok::Regex,
                _ => Tok::Str,
            });
        } else if c.is_ascii_digit() {
            let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
            skip(&mut chars, word.chars().count());
            toks.push(Tok::Num(word));
        } else if c.is_alphabetic() || c == '@' || c == '_' || c == '$' {
            let word: String =
                rest.chars().take_while(|c| c.is_alphanumeric() || ['@', '_', '.', '$'].contains(c)).collect();
            skip(&mut chars, word.chars().count());
            toks.push(Tok::Word(word));
        } else if let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) {
            skip(&mut chars, op.len());
            toks.push(Tok::Op(op));
        } else {
            return Err(format!("unexpected {c:?} at byte {at}"));
        }
    }
    Ok(toks)
}

fn skip(chars: &mut impl Iterator<Item = (usize, char)>, n: usize) {
    for _ in 0..n {
        chars.next();
    }
}

/// A `/` starts a regex where an operand is expected, not after one.
fn regex_may_start(prev: Option<&Tok>) -> bool {
    match prev {
        None | Some(Tok::Pipe | Tok::Op(_)) => !matches!(prev, Some(Tok::Op(")" | "]"))),
        Some(Tok::Word(w)) => ["like", "and", "or", "not", "filter"].contains(&w.to_ascii_lowercase().as_str()),
        _ => false,
    }
}

const KEYWORDS: &[&str] = &["and", "or", "not", "in", "like", "as", "by", "asc", "desc"];

struct QueryCheck<'a> {
    toks: Vec<Tok>,
    at: usize,
    /// Fields a line can have.
    known: &'a BTreeSet<String>,
    /// Names `as` defined so far.
    aliases: BTreeSet<String>,
    /// After `stats`: only its results exist.
    after_stats: Option<BTreeSet<String>>,
    in_stats: bool,
    named: BTreeSet<String>,
}

impl QueryCheck<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Result<Tok, String> {
        let t = self.toks.get(self.at).cloned().ok_or("unexpected end of query")?;
        self.at += 1;
        Ok(t)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let yes = self.is_word(w);
        self.at += usize::from(yes);
        yes
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let yes = matches!(self.peek(), Some(Tok::Op(o)) if *o == op);
        self.at += usize::from(yes);
        yes
    }

    fn expect_op(&mut self, op: &str) -> Result<(), String> {
        if self.eat_op(op) { Ok(()) } else { Err(format!("expected {op:?}, found {:?}", self.peek())) }
    }

    fn field(&mut self, name: &str) -> Result<(), String> {
        if KEYWORDS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!("keyword {name:?} where a field was expected"));
        }
        let ok = match &self.after_stats {
            Some(results) => results.contains(name),
            None => self.aliases.contains(name) || self.known.contains(name) || SYSTEM_FIELDS.contains(&name),
        };
        if !ok {
            return Err(format!("no line has a field {name:?}"));
        }
        self.named.insert(name.to_owned());
        Ok(())
    }

    fn query(&mut self) -> Result<(), String> {
        loop {
            let Tok::Word(command) = self.next()? else {
                return Err(format!("expected a command at token {}", self.at));
            };
            match command.as_str() {
                "fields" | "display" => {
                    self.items(false)?;
                }
                "filter" => self.expr()?,
                "stats" => self.stats()?,
                "sort" => loop {
                    let name = self.field_name()?;
                    self.field(&name)?;
                    let _ = self.eat_word("asc") || self.eat_word("desc");
                    if !self.eat_op(",") {
                        break;
                    }
                },
                "limit" => match self.next()? {
                    Tok::Num(n) if n.parse::<u32>().is_ok_and(|n| (1..=10_000).contains(&n)) => {}
                    other => return Err(format!("limit takes 1 to 10000, not {other:?}")),
                },
                "dedup" => loop {
                    let name = self.field_name()?;
                    self.field(&name)?;
                    if !self.eat_op(",") {
                        break;
                    }
                },
                other => return Err(format!("unknown command {other:?}")),
            }
            match self.next() {
                Err(_) => return Ok(()),
                Ok(Tok::Pipe) => {}
                Ok(other) => return Err(format!("expected | or the end, found {other:?}")),
            }
        }
    }

    fn field_name(&mut self) -> Result<String, String> {
        match self.next()? {
            Tok::Word(w) | Tok::Quoted(w) => Ok(w),
            other => Err(format!("expected a field, found {other:?}")),
        }
    }

    /// `expr [as NAME], ...`; returns the names they give.
    fn items(&mut self, aggregate: bool) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        loop {
            let start = self.at;
            self.in_stats = aggregate;
            self.expr()?;
            self.in_stats = false;
            if aggregate && !matches!(self.toks.get(start), Some(Tok::Word(w)) if AGGREGATIONS.contains(&w.as_str())) {
                return Err(format!("stats needs an aggregation, found {:?}", self.toks.get(start)));
            }
            if self.eat_word("as") {
                let name = self.field_name()?;
                self.aliases.insert(name.clone());
                names.push(name);
            } else if let (true, Some(Tok::Word(w) | Tok::Quoted(w))) = (self.at == start + 1, self.toks.get(start)) {
                names.push(w.clone());
            }
            if !self.eat_op(",") {
                return Ok(names);
            }
        }
    }

    fn stats(&mut self) -> Result<(), String> {
        let mut results: BTreeSet<String> = self.items(true)?.into_iter().collect();
        if self.eat_word("by") {
            results.extend(self.items(false)?);
        }
        self.after_stats = Some(results);
        Ok(())
    }

    fn expr(&mut self) -> Result<(), String> {
        self.and()?;
        while self.eat_word("or") {
            self.and()?;
        }
        Ok(())
    }

    fn and(&mut self) -> Result<(), String> {
        self.not()?;
        while self.eat_word("and") {
            self.not()?;
        }
        Ok(())
    }

    fn not(&mut self) -> Result<(), String> {
        if self.eat_word("not") {
            return self.not();
        }
        self.sum()?;
        let negated = self.eat_word("not");
        if self.eat_word("in") {
            self.expect_op("[")?;
            return self.list("]");
        }
        if self.eat_word("like") {
            return match self.next()? {
                Tok::Str | Tok::Regex => Ok(()),
                other => Err(format!("like takes a string or /regex/, not {other:?}")),
            };
        }
        if negated {
            return Err("`not` after an operand needs in or like".into());
        }
        if self.eat_op("=~") {
            return match self.next()? {
                Tok::Regex => Ok(()),
                other => Err(format!("=~ takes a /regex/, not {other:?}")),
            };
        }
        for op in ["=", "!=", "<", "<=", ">", ">="] {
            if self.eat_op(op) {
                return self.sum();
            }
        }
        Ok(())
    }

    fn sum(&mut self) -> Result<(), String> {
        self.primary()?;
        while ["+", "-", "*", "/", "%"].iter().any(|op| self.eat_op(op)) {
            self.primary()?;
        }
        Ok(())
    }

    fn list(&mut self, close: &str) -> Result<(), String> {
        if self.eat_op(close) {
            return Ok(());
        }
        loop {
            self.expr()?;
            if self.eat_op(close) {
                return Ok(());
            }
            self.expect_op(",")?;
        }
    }

    fn primary(&mut self) -> Result<(), String> {
        match self.next()? {
            Tok::Num(n) => {
                let unit = n.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
                if ["", "ms", "s", "m", "h", "d", "w", "mo", "q", "y"].contains(&unit) {
                    Ok(())
                } else {
                    Err(format!("not a number or duration: {n}"))
                }
            }
            Tok::Str | Tok::Regex => Ok(()),
            Tok::Op("-") => self.primary(),
            Tok::Op("(") => {
                self.expr()?;
                self.expect_op(")")
            }
            Tok::Op("[") => self.list("]"),
            Tok::Quoted(name) => self.field(&name),
            Tok::Word(w) if self.eat_op("(") => {
                let aggregate = AGGREGATIONS.contains(&w.as_str());
                if aggregate && !self.in_stats {
                    return Err(format!("{w}() aggregates: only in stats"));
                }
                if !aggregate && !FUNCTIONS.contains(&w.as_str()) {
                    return Err(format!("unknown function {w}()"));
                }
                let was = std::mem::replace(&mut self.in_stats, false);
                let result = if w == "count" && self.eat_op("*") { self.expect_op(")") } else { self.list(")") };
                self.in_stats = was;
                result
            }
            Tok::Word(w) => self.field(&w),
            other => Err(format!("expected an operand, found {other:?}")),
        }
    }
}

/// Parses a query; returns the fields it names.
fn check_query(query: &str, known: &BTreeSet<String>) -> Result<BTreeSet<String>, String> {
    let mut check = QueryCheck {
        toks: tokenize(query)?,
        at: 0,
        known,
        aliases: BTreeSet::new(),
        after_stats: None,
        in_stats: false,
        named: BTreeSet::new(),
    };
    check.query()?;
    Ok(check.named)
}

#[test]
fn insights_queries_parse_and_name_real_fields() {
    let known = real_fields();
    let dir = deploy().join("cloudwatch");
    let mut queries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/cloudwatch")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "query"))
        .collect();
    queries.sort();
    assert!(queries.len() >= 5, "the queries in deploy/cloudwatch: {queries:?}");
    let mut named = BTreeSet::new();
    for q in &queries {
        let text = read(q);
        assert!(text.starts_with("# "), "{} starts with a comment saying what it shows", q.display());
        let fields = check_query(&text, &known).unwrap_or_else(|e| panic!("{}: {e}\n{text}", q.display()));
        named.extend(fields);
    }
    for field in ["rampart", "type", "cat", "target", "req", "pid", "msg", "count", "@requestId", "@timestamp"] {
        assert!(named.contains(field), "some query uses {field}: {named:?}");
    }
    // The check can fail: each of these is wrong in one way.
    for bad in [
        "filter rampart = 1 and type = \"block\" | stats count(*) by categroy",
        "filter rampart = 1 and (type = \"block\"",
        "filter type = \"block | limit 5",
        "fields @timestamp | sortt @timestamp desc",
        "stats count(*) as n by cat | sort target",
        "filter count(*) > 1",
        "stats cat by target",
        "fields bogus(@message)",
        "filter msg like 5",
        "limit 0",
        "filter type in [\"a\", \"b\"",
    ] {
        assert!(check_query(bad, &known).is_err(), "the check accepts a broken query: {bad}");
    }
    // And accepts what the language allows beyond the snippets.
    for good in [
        "fields @timestamp, @message | filter @message like /block/ | sort @timestamp desc | limit 20",
        "filter type not in [\"profile\"] and not ispresent(argv.0) | stats count(*) by bin(5m)",
        "stats count(*) as n by cat | filter n > 2 | sort n desc",
        "filter msg =~ /^invocation end/ | dedup req",
    ] {
        check_query(good, &known).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
}

// ---------------------------------------------------------------------------
// The metric filter pattern

/// CloudWatch Logs' JSON filter pattern for the subset the snippets use:
/// `{ $.FIELD = VALUE && ... }` (also `||`, `!=`), VALUE a number or a
/// double-quoted string. Returns whether `line` matches; a pattern outside
/// the subset is an error.
fn json_pattern_matches(pattern: &str, line: &Value) -> Result<bool, String> {
    let inner = pattern.trim().strip_prefix('{').and_then(|p| p.strip_suffix('}')).ok_or("not { ... }")?;
    let mut any = false;
    for alternative in inner.split("||") {
        let mut all = true;
        for term in alternative.split("&&") {
            let term = term.trim();
            let (op, (sel, value)) = ["!=", "="]
                .iter()
                .find_map(|op| term.split_once(op).map(|parts| (*op, parts)))
                .ok_or(format!("no comparison in {term:?}"))?;
            let path = sel.trim().strip_prefix("$.").ok_or(format!("not a $. selector: {sel:?}"))?;
            let mut found = line;
            for key in path.split('.') {
                found = &found[key];
            }
            let value = value.trim();
            let equal = if let Some(s) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                found.as_str() == Some(s)
            } else {
                let n: f64 = value.parse().map_err(|_| format!("not a number or string: {value:?}"))?;
                found.as_f64() == Some(n)
            };
            all &= if op == "=" { equal } else { !equal && !found.is_null() };
        }
        any |= all;
    }
    Ok(any)
}

#[test]
fn block_metric_filter_matches_block_lines_only() {
    let pattern = block_pattern();
    assert_eq!(pattern, r#"{ $.rampart = 1 && $.type = "block" }"#);
    // The same pattern in every snippet (the CloudFormation, SAM and
    // Terraform tests check theirs in place; the CDK one is a constant).
    let cdk = read(&deploy().join("cdk/lib/rampart.ts"));
    assert!(cdk.contains(&format!("BLOCK_LINES_PATTERN = '{pattern}'")), "deploy/cdk/lib/rampart.ts");
    let lines = real_lines();
    let mut matched = 0;
    for line in lines {
        let m = json_pattern_matches(&pattern, line).expect("the pattern is in the subset");
        assert_eq!(m, line["type"] == "block", "{pattern} on {line}");
        matched += usize::from(m);
    }
    assert!(matched >= 2, "{matched} block lines matched");
    // The evaluator itself can say no.
    let alert = lines.iter().find(|l| l["type"] == "alert").expect("an alert line");
    assert!(!json_pattern_matches(&pattern, alert).expect("pattern"));
    assert!(json_pattern_matches(r#"{ $.rampart = 1 && $.type = "alert" }"#, alert).expect("pattern"));
    assert!(json_pattern_matches(r#"{ $.rampart = 2 }"#, alert).is_ok_and(|m| !m));
    assert!(json_pattern_matches("$.type = block", alert).is_err());
}
