//! Fixture: a component for a different version of the Sandbar contract
//! (`sandbar:strategy@0.9.0`, from the future). The host must refuse it
//! before any bar.
#![allow(missing_docs)]

#[cfg(target_family = "wasm")]
mod component {
    wit_bindgen::generate!({
        inline: "package sandbar:strategy@0.9.0;
                 interface guest { describe: func() -> string; }
                 world strategy { export guest; }",
    });

    struct Future;

    impl exports::sandbar::strategy::guest::Guest for Future {
        fn describe() -> String {
            "from the future".into()
        }
    }

    export!(Future);
}
