//! Derive macros for kafkadeps, re-exported by `kafkadeps` under its `derive` feature.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, kafkadeps::Event)]
//! #[event(topic = "orders.v1", key = order_id, format = "cloudevents",
//!         ce_type = "com.acme.order.created", ce_source = "/orders")]
//! struct OrderCreated { order_id: String, amount_cents: i64 }
//!
//! use kafkadeps::Event as _;
//! let order = OrderCreated { order_id: "o-1".into(), amount_cents: 1250 };
//! assert_eq!(OrderCreated::TOPIC, "orders.v1");
//! assert_eq!(order.key().as_deref(), Some("o-1"));
//! ```

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::{
    Data, DeriveInput, Expr, ExprLit, Fields, Ident, Lit, LitStr, Meta, Token, parse_macro_input,
};

const OPTIONS: &[&str] = &["topic", "key", "format", "ce_type", "ce_source"];

/// `#[derive(Event)]`: binds a type to its topic, key field and payload format, so
/// `producer.publish(&value)` needs nothing else. Mistakes are compile errors at their span.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[derive(Default)]
struct Options {
    topic: Option<LitStr>,
    key: Option<Ident>,
    format: Option<LitStr>,
    ce_type: Option<LitStr>,
    ce_source: Option<LitStr>,
}

fn string_value(name: &Ident, value: &Expr) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{name}` takes a string literal, e.g. {name} = \"...\""),
        )),
    }
}

fn parse_options(input: &DeriveInput) -> syn::Result<Options> {
    let mut opts = Options::default();
    let mut seen_attr = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("event")) {
        seen_attr = true;
        let list = attr.meta.require_list()?;
        let metas =
            list.parse_args_with(syn::punctuated::Punctuated::<Meta, Token![,]>::parse_terminated)?;
        for meta in metas {
            let Meta::NameValue(nv) = &meta else {
                return Err(syn::Error::new_spanned(
                    &meta,
                    "expected `name = value`, e.g. topic = \"orders.v1\"",
                ));
            };
            let Some(name) = nv.path.get_ident().cloned() else {
                return Err(syn::Error::new_spanned(&nv.path, "expected an option name"));
            };
            match name.to_string().as_str() {
                "topic" => opts.topic = Some(string_value(&name, &nv.value)?),
                "format" => opts.format = Some(string_value(&name, &nv.value)?),
                "ce_type" => opts.ce_type = Some(string_value(&name, &nv.value)?),
                "ce_source" => opts.ce_source = Some(string_value(&name, &nv.value)?),
                "key" => match &nv.value {
                    Expr::Path(p) if p.path.get_ident().is_some() => {
                        opts.key = p.path.get_ident().cloned()
                    }
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => opts.key = Some(Ident::new(&s.value(), s.span())),
                    other => {
                        return Err(syn::Error::new_spanned(
                            other,
                            "`key` takes a field name, e.g. key = order_id",
                        ));
                    }
                },
                other => {
                    let hint = kafkadeps_core::suggest::closest(other, OPTIONS.iter().copied())
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_else(|| format!("; expected one of {}", OPTIONS.join(", ")));
                    return Err(syn::Error::new_spanned(
                        &name,
                        format!("unknown option `{other}`{hint}"),
                    ));
                }
            }
        }
    }
    if !seen_attr {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[derive(Event)] needs #[event(topic = \"...\")] on the type",
        ));
    }
    Ok(opts)
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let opts = parse_options(input)?;
    let name = &input.ident;
    let topic = opts.topic.as_ref().ok_or_else(|| {
        syn::Error::new_spanned(
            name,
            "missing `topic` in #[event(...)], e.g. #[event(topic = \"orders.v1\")]",
        )
    })?;
    if let Err(problem) = kafkadeps_core::config::validate_topic_name(&topic.value()) {
        return Err(syn::Error::new_spanned(topic, problem.to_string()));
    }
    let cloudevents = match opts.format.as_ref().map(LitStr::value).as_deref() {
        None | Some("json") => false,
        Some("cloudevents") => true,
        Some(other) => {
            return Err(syn::Error::new_spanned(
                opts.format.as_ref(),
                format!("unknown format `{other}`; expected \"json\" or \"cloudevents\""),
            ));
        }
    };
    if cloudevents && (opts.ce_type.is_none() || opts.ce_source.is_none()) {
        let missing: Vec<&str> = [
            ("ce_type", opts.ce_type.is_none()),
            ("ce_source", opts.ce_source.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(n, _)| *n)
        .collect();
        return Err(syn::Error::new_spanned(
            opts.format.as_ref(),
            format!(
                "format = \"cloudevents\" needs {} (the CloudEvents `type` and `source`)",
                missing.join(" and ")
            ),
        ));
    }
    if !cloudevents {
        for (what, lit) in [("ce_type", &opts.ce_type), ("ce_source", &opts.ce_source)] {
            if let Some(lit) = lit {
                return Err(syn::Error::new_spanned(
                    lit,
                    format!("`{what}` only applies with format = \"cloudevents\""),
                ));
            }
        }
    }
    let key_body = match &opts.key {
        None => quote! { ::core::option::Option::None },
        Some(field) => {
            let Data::Struct(data) = &input.data else {
                return Err(syn::Error::new_spanned(
                    field,
                    "`key` needs a struct with named fields",
                ));
            };
            let Fields::Named(fields) = &data.fields else {
                return Err(syn::Error::new_spanned(
                    field,
                    "`key` needs a struct with named fields",
                ));
            };
            let names: Vec<String> = fields
                .named
                .iter()
                .filter_map(|f| f.ident.as_ref().map(ToString::to_string))
                .collect();
            let wanted = field.to_string();
            if !names.contains(&wanted) {
                let hint = kafkadeps_core::suggest::closest(
                    &field.to_string(),
                    names.iter().map(String::as_str),
                )
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_else(|| format!("; its fields are: {}", names.join(", ")));
                return Err(syn::Error::new_spanned(
                    field,
                    format!("`{name}` has no field `{field}`{hint}"),
                ));
            }
            quote! { ::core::option::Option::Some(::std::string::ToString::to_string(&self.#field)) }
        }
    };
    let format = if cloudevents {
        quote! { ::kafkadeps::EventFormat::CloudEvents }
    } else {
        quote! { ::kafkadeps::EventFormat::Json }
    };
    let opt = |l: &Option<LitStr>| match l {
        Some(l) => quote! { ::core::option::Option::Some(#l) },
        None => quote! { ::core::option::Option::None },
    };
    let (ce_type, ce_source) = (opt(&opts.ce_type), opt(&opts.ce_source));
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::kafkadeps::Event for #name #ty_generics #where_clause {
            const TOPIC: &'static str = #topic;
            const FORMAT: ::kafkadeps::EventFormat = #format;
            const CE_TYPE: ::core::option::Option<&'static str> = #ce_type;
            const CE_SOURCE: ::core::option::Option<&'static str> = #ce_source;
            fn key(&self) -> ::core::option::Option<::std::string::String> {
                #key_body
            }
        }
    })
}
