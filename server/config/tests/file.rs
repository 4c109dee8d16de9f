//! The TOML file: unknown keys and bad values name the key and file, a serialized config
//! reads back unchanged, and the example file and the docs name every setting.

use super::*;

#[test]
fn unknown_toml_keys_are_rejected_naming_the_key_and_file() {
    for (text, key) in [
        ("prot = 1\n", "prot"),
        ("[raft]\nheartbeat = \"1s\"\n", "heartbeat"),
        ("[limits]\nmax_keys = 1\n", "max_keys"),
        ("[rafts]\nenabled = true\n", "rafts"),
    ] {
        let message = config_message(Config::from_toml(text, "/etc/konsul.toml"));
        assert!(message.starts_with("/etc/konsul.toml: "), "{message}");
        assert!(message.contains(&format!("`{key}`")), "{message}");
    }
}

#[test]
fn bad_toml_values_name_the_table_key_and_value() {
    let text = "port = 8888\n\n[raft]\nenabled = true\nheartbeat_timeout = \"abc\"\n";
    let message = config_message(Config::from_toml(text, "konsul.toml"));
    assert!(
        message.starts_with("konsul.toml: raft.heartbeat_timeout: invalid duration \"abc\""),
        "{message}"
    );
    assert!(message.ends_with("(line 5)"), "{message}");

    for (text, key) in [
        ("port = \"8888\"\n", "port"),
        ("port = 70000\n", "port"),
        ("log_level = \"loud\"\n", "log_level"),
        ("[raft]\nelection_timeout = 5\n", "raft.election_timeout"),
        ("[raft]\nenabled = \"yes\"\n", "raft.enabled"),
        ("[limits]\nmax_key_bytes = -1\n", "limits.max_key_bytes"),
    ] {
        let message = config_message(Config::from_toml(text, "f.toml"));
        assert!(
            message.starts_with(&format!("f.toml: {key}: ")),
            "{text}: {message}"
        );
    }
    let message = config_message(Config::from_toml("port = = 1", "f.toml"));
    assert!(message.starts_with("f.toml: "), "{message}");
}

#[test]
fn serialized_config_reads_back_unchanged() {
    let mut c = Config::default();
    c.raft.data_dir = Some(PathBuf::from("/r"));
    c.raft.election_timeout = ms(5_400_250);
    c.raft.join = vec!["a:1".into()];
    for config in [Config::default(), c] {
        let text = toml::to_string(&config).unwrap();
        assert_eq!(
            Config::from_toml(&text, "round-trip").unwrap(),
            config,
            "{text}"
        );
    }
}

#[test]
fn the_example_file_parses_to_the_defaults() {
    let example = Config::from_toml(EXAMPLE_TOML, "docs/konsul.example.toml").unwrap();
    assert_eq!(example, Config::default());
    example.validate().unwrap();
}

#[test]
fn the_docs_and_the_example_name_every_setting() {
    for var in VARS {
        assert!(
            OPERATIONS_MD.contains(var.name),
            "operations.md lacks {}",
            var.name
        );
        assert!(
            OPERATIONS_MD.contains(&format!("`{}`", var.key)),
            "operations.md lacks key `{}`",
            var.key
        );
        let field = var.key.rsplit('.').next().unwrap();
        assert!(
            EXAMPLE_TOML.lines().any(|l| {
                let l = l.trim_start_matches(['#', ' ']);
                l.starts_with(&format!("{field} ="))
            }),
            "konsul.example.toml lacks {}",
            var.key
        );
    }
    assert!(OPERATIONS_MD.contains("KONSUL_CONFIG"));
    for flag in flags::names() {
        assert!(OPERATIONS_MD.contains(&flag), "operations.md lacks {flag}");
    }
}
