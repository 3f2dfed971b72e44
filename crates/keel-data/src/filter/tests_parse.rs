//! Parser tests: precedence, literals, operators, modifiers, errors and hostile input.

use super::ast::{Cmp, Expr, Macro, Modifier, Op, Operand, Root};
use super::compare::like_pattern;
use super::parse;

fn cmp(e: &Expr) -> &Cmp {
    match e {
        Expr::Cmp(c) => c,
        other => panic!("not a comparison: {other:?}"),
    }
}

fn err_msg(src: &str) -> String {
    match parse(src) {
        Ok(e) => panic!("{src:?} parsed: {e:?}"),
        Err(keel_core::Error::BadRequest { fields, .. }) => {
            let f = &fields["filter"];
            assert_eq!(f.code, "validation_invalid_filter");
            f.message.clone()
        }
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn and_binds_tighter_than_or() {
    let e = parse("a = 1 || b = 2 && c = 3").unwrap();
    let Expr::Or(parts) = e else { panic!("{e:?}") };
    assert_eq!(parts.len(), 2);
    assert!(matches!(&parts[1], Expr::And(p) if p.len() == 2));

    let e = parse("(a = 1 || b = 2) && c = 3").unwrap();
    let Expr::And(parts) = e else { panic!("{e:?}") };
    assert!(matches!(&parts[0], Expr::Or(p) if p.len() == 2));
}

#[test]
fn all_operators() {
    let cases = [
        ("=", Op::Eq, false),
        ("!=", Op::Neq, false),
        (">", Op::Gt, false),
        (">=", Op::Gte, false),
        ("<", Op::Lt, false),
        ("<=", Op::Lte, false),
        ("~", Op::Like, false),
        ("!~", Op::NotLike, false),
        ("?=", Op::Eq, true),
        ("?!=", Op::Neq, true),
        ("?>", Op::Gt, true),
        ("?>=", Op::Gte, true),
        ("?<", Op::Lt, true),
        ("?<=", Op::Lte, true),
        ("?~", Op::Like, true),
        ("?!~", Op::NotLike, true),
    ];
    for (text, op, any) in cases {
        for src in [format!("a {text} 1"), format!("a{text}1")] {
            let e = parse(&src).unwrap();
            let c = cmp(&e);
            assert_eq!((c.op, c.any), (op, any), "{src}");
            assert_eq!(c.right, Operand::Int(1));
        }
    }
}

#[test]
fn literals() {
    let e = parse(r#"a = "it's \"quoted\"" && b = 'say \'hi\' \n' && c = -12 && d = 3.25 && e = true && f = null"#)
        .unwrap();
    let Expr::And(p) = e else { panic!() };
    assert_eq!(cmp(&p[0]).right, Operand::Str(r#"it's "quoted""#.into()));
    assert_eq!(cmp(&p[1]).right, Operand::Str(r"say 'hi' \n".into()));
    assert_eq!(cmp(&p[2]).right, Operand::Int(-12));
    assert_eq!(cmp(&p[3]).right, Operand::Float(3.25));
    assert_eq!(cmp(&p[4]).right, Operand::Bool(true));
    assert_eq!(cmp(&p[5]).right, Operand::Null);
    let e = parse("a = 99999999999999999999").unwrap();
    assert!(matches!(cmp(&e).right, Operand::Float(_)));
    let e = parse("a = 'héllo ✓ 日本'").unwrap();
    assert_eq!(cmp(&e).right, Operand::Str("héllo ✓ 日本".into()));
}

#[test]
fn comments_and_empty() {
    let e = parse("// leading\na = 1 // trailing\n && b = '// not a comment'").unwrap();
    let Expr::And(p) = e else { panic!() };
    assert_eq!(cmp(&p[1]).right, Operand::Str("// not a comment".into()));
    assert_eq!(parse("").unwrap(), Expr::And(vec![]));
    assert_eq!(parse("  \n\t ").unwrap(), Expr::And(vec![]));
    assert_eq!(parse("// only a comment").unwrap(), Expr::And(vec![]));
}

#[test]
fn paths_macros_and_modifiers() {
    let e = parse("author.org.title:lower = @request.auth.name").unwrap();
    let c = cmp(&e);
    let Operand::Path(l) = &c.left else { panic!() };
    assert_eq!(l.root, Root::Field);
    assert_eq!(l.segments, ["author", "org", "title"]);
    assert_eq!(l.modifier, Some(Modifier::Lower));
    let Operand::Path(r) = &c.right else { panic!() };
    assert_eq!(
        (&r.root, r.segments.as_slice()),
        (&Root::Auth, &["name".to_string()][..])
    );

    let e = parse("@collection.posts:p.title = @todayStart").unwrap();
    let c = cmp(&e);
    let Operand::Path(l) = &c.left else { panic!() };
    assert_eq!(
        l.root,
        Root::Collection {
            name: "posts".into(),
            alias: Some("p".into())
        }
    );
    let Operand::Path(r) = &c.right else { panic!() };
    assert_eq!(r.root, Root::Macro(Macro::TodayStart));

    for (src, m) in [
        ("@request.body.x:isset = true", Modifier::Isset),
        ("tags:length > 1", Modifier::Length),
        ("tags:each = 'a'", Modifier::Each),
    ] {
        let e = parse(src).unwrap();
        let Operand::Path(l) = &cmp(&e).left else { panic!() };
        assert_eq!(l.modifier, Some(m), "{src}");
    }
    for src in [
        "@request.method = 'GET'",
        "@request.context = 'default'",
        "@request.query.page = 1",
        "@request.headers.x_token = 'a'",
        "@request.data.title = 'a'",
    ] {
        parse(src).unwrap();
    }
}

#[test]
fn error_positions() {
    assert!(err_msg("a = ").contains("position 4"), "{}", err_msg("a = "));
    assert!(err_msg("a = 'x").contains("position 4: unterminated string"));
    assert!(err_msg("a == 1").contains("position 3"));
    assert!(err_msg("(a = 1").contains("position 6: expected ')'"));
    assert!(err_msg("a = 1 b = 2").contains("position 6"));
    assert!(err_msg("a = 1 &&").contains("position 8"));
    assert!(err_msg("a & b").contains("position 2"));
    assert!(err_msg("a = 1)").contains("position 5"));
    assert!(err_msg("a:bogus = 1").contains("unknown modifier"));
    assert!(err_msg("@nope = 1").contains("unknown macro"));
    assert!(err_msg("@request.auth = 1").contains("expected a field name"));
    assert!(err_msg("@request.method.x = 1").contains("unexpected field"));
    assert!(err_msg("@collection.posts = 1").contains("@collection"));
    assert!(err_msg("a..b = 1").contains("invalid name"));
    assert!(err_msg("a.b. = 1").contains("invalid name"));
    assert!(err_msg("a = ?").contains("operator"));
    assert!(err_msg("() = 1").contains("position 1"));
    // Positions count characters, not bytes.
    assert!(err_msg("a = 'é' b").contains("position 8"));
}

#[test]
fn hostile_input_never_panics() {
    let deep = format!("{}a = 1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(err_msg(&deep).contains("nested deeper"));
    let ok = format!("{}a = 1{}", "(".repeat(50), ")".repeat(50));
    parse(&ok).unwrap();
    let huge = "a = 1 && ".repeat(20_000);
    assert!(err_msg(&huge).contains("longer than"));
    let many = vec!["a=1"; 2001].join("||");
    assert!(err_msg(&many).contains("more than"));
    assert!(err_msg("title = \"x' OR 1=1 --").contains("unterminated"));
    assert!(err_msg("ti\"tle = 1").contains("unterminated"));
    assert!(err_msg("title; DROP TABLE x = 1").contains("unexpected character"));
    assert!(err_msg("t\u{0}x = 1").contains("unexpected character"));
    assert!(err_msg("títle = 1").contains("unexpected character"));
    let inputs = [
        "",
        "(",
        ")",
        "((",
        "&&",
        "||",
        "'",
        "\"",
        "\\",
        "=",
        "?",
        "@",
        "@@",
        "@request.",
        "a.",
        ":",
        "a:",
        "-",
        "- 1 = 1",
        "1 = --1",
        "a = 1.",
        "a = .5",
        "@collection..x = 1",
        "@collection.a:.x = 1",
        "a ?",
        "\u{feff}",
        "a = '\\",
        "a = \"\\\"",
        "😀 = 1",
        "a = 1 // c\n||",
        "(a=1)(b=2)",
    ];
    for src in inputs {
        let _ = parse(src);
    }
    // Every prefix of a complex expression parses or fails cleanly.
    let complex = "(a.b:lower ?~ 'x\\'%' || @request.auth.id != \"\") && @collection.c:z.d >= -1.5 // end";
    for (i, _) in complex.char_indices() {
        let _ = parse(&complex[..i]);
    }
}

#[test]
fn like_normalization() {
    assert_eq!(like_pattern("abc"), "%abc%");
    assert_eq!(like_pattern("a_b"), "%a\\_b%");
    assert_eq!(like_pattern("a\\%b"), "%a\\%b%");
    assert_eq!(like_pattern("a\\b"), "%a\\\\b%");
    assert_eq!(like_pattern("abc%"), "abc%");
    assert_eq!(like_pattern("a_c%"), "a_c%");
    assert_eq!(like_pattern("%ab\\"), "%ab\\\\");
    assert_eq!(like_pattern(""), "%%");
}
