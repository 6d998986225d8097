//! Fetches one object with the layer's configuration (AWS_* variables):
//! `cargo run -p rampart-s3 --example get -- s3://bucket/prefix [KEY]`.
//! Also the yardstick for the client's share of the library's size.

use std::process::ExitCode;
use std::time::Duration;

use rampart_s3::{Client, Config, GetObject, Location};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else {
        eprintln!("usage: get s3://BUCKET[/PREFIX] [KEY]");
        return ExitCode::from(2);
    };
    let get = |name: &str| std::env::var(name).ok();
    let result = Location::parse(url, None)
        .and_then(|loc| Ok((loc, Config::from_vars(&get, Duration::from_secs(10))?)))
        .and_then(|(loc, config)| {
            let key = args.get(1).map_or_else(|| loc.policy_key(), |k| loc.key(k));
            Client::new(config)?.get_object(&loc.bucket, &key, None, 1 << 20)
        });
    match result {
        Ok(GetObject::Found(object)) => {
            println!("etag {:?}, {} bytes, metadata {:?}", object.etag, object.body.len(), object.metadata);
            ExitCode::SUCCESS
        }
        Ok(other) => {
            println!("{other:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error ({}): {e}", e.kind().as_str());
            ExitCode::FAILURE
        }
    }
}
