//! Command-line options.

use crate::fusion_bench::pin::Pin;
use crate::fusion_bench::registry::Case;

/// What to run and how to print it.
#[derive(Debug, Clone)]
pub struct Options {
    /// Print one JSON document instead of a table.
    pub json: bool,
    /// Small sample counts (a smoke test that finishes in seconds).
    pub quick: bool,
    /// The cases to run, in report order.
    pub cases: Vec<Case>,
    /// Break the fusion round trip down into its stages (`--explain`).
    pub explain: bool,
    /// Where the processes run (`--pin`).
    pub pin: Pin,
}

/// Usage text.
pub fn usage() -> String {
    let names: Vec<&str> = Case::ALL.iter().map(|c| c.name()).collect();
    format!(
        "usage: fusion-bench [--json] [--quick] [--only NAME[,NAME...]] [--explain] \
         [--pin split|same]\n\
         cases: {}\n\
         --explain: with roundtrip, time each stage of the fusion call\n\
         --pin split: this process on one CPU, partners on another; same: all on one\n",
        names.join(", ")
    )
}

/// Parses the arguments after the program name; `Err` carries the message to print.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut json = false;
    let mut quick = false;
    let mut explain = false;
    let mut pin = Pin::Off;
    let mut only: Vec<Case> = Vec::new();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let names = match a.as_str() {
            "--json" => {
                json = true;
                continue;
            }
            "--quick" => {
                quick = true;
                continue;
            }
            "--explain" => {
                explain = true;
                continue;
            }
            "--pin" => {
                let how = args.next().ok_or("--pin needs split or same")?;
                pin = Pin::parse(&how).ok_or_else(|| format!("--pin {how:?}: split or same"))?;
                continue;
            }
            "-h" | "--help" => return Err(usage()),
            "--only" => args.next().ok_or("--only needs a case name")?,
            s if s.starts_with("--only=") => s["--only=".len()..].to_string(),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        };
        for name in names.split(',').filter(|n| !n.is_empty()) {
            let case =
                Case::by_name(name).ok_or_else(|| format!("unknown case {name:?}\n{}", usage()))?;
            only.push(case);
        }
    }
    let cases = if only.is_empty() {
        Case::ALL.to_vec()
    } else {
        Case::ALL.into_iter().filter(|c| only.contains(c)).collect()
    };
    Ok(Options {
        json,
        quick,
        cases,
        explain,
        pin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> Result<Options, String> {
        parse(s.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_flags_and_only() {
        let o = p(&["--quick", "--only", "alloc,lock", "--json"]).unwrap();
        assert!(o.quick && o.json);
        assert_eq!(o.cases, vec![Case::Lock, Case::Alloc]);
        assert_eq!(p(&[]).unwrap().cases.len(), Case::ALL.len());
        assert!(p(&["--only", "nope"]).is_err());
        assert!(p(&["--frobnicate"]).is_err());
        let o = p(&["--explain", "--pin", "split"]).unwrap();
        assert!(o.explain && o.pin == Pin::Split);
        assert!(p(&["--pin", "sideways"]).is_err());
    }
}
