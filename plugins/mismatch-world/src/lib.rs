//! Fixture: a valid component for some other world entirely. The host must
//! refuse it before any bar, naming what it expected.
#![allow(missing_docs)]

#[cfg(target_family = "wasm")]
mod component {
    wit_bindgen::generate!({
        inline: "package other:thing@1.0.0;
                 world gadget { export spin-up: func() -> u32; }",
    });

    struct Gadget;

    impl Guest for Gadget {
        fn spin_up() -> u32 {
            42
        }
    }

    export!(Gadget);
}
