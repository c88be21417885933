//! `use_state!(key, namespace = .., factory = .., type = ..)`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Token, Type};

use crate::args::{self, Arg, ArgValue, Errors};

const NAMESPACE: &str = "namespace";
const FACTORY: &str = "factory";
const TYPE: &str = "type";
const DURABLE: &str = "durable";
const OPTIONS: &[&str] = &[NAMESPACE, FACTORY, TYPE, DURABLE];

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let input = match Parser::parse2(parse, input) {
        Ok(input) => input,
        Err(error) => {
            let error = error.to_compile_error();
            return quote!({ #error });
        }
    };
    let (call, errors) = UseState::validate(input);
    // Without pagestate's `runtime` feature, a compile error that names it.
    let expansion = call.expand();
    let expansion = quote!(::pagestate::__pagestate_runtime_expr! { "`use_state!`" #expansion });
    match errors.finish() {
        Ok(()) => expansion,
        // One expression either way (several `compile_error!`s side by
        // side are not one), with the options that were fine: the state
        // keeps its type, so its uses report nothing more.
        Err(error) => {
            let error = error.to_compile_error();
            quote!({ #error #expansion })
        }
    }
}

/// The macro input as written: a key, then options.
struct Input {
    key: Expr,
    options: Vec<Arg>,
}

/// A checked call.
struct UseState {
    key: Expr,
    namespace: Option<Expr>,
    factory: Option<Expr>,
    ty: Option<Type>,
    /// `durable`: stored with the session (Serialize + DeserializeOwned).
    durable: Option<Ident>,
}

fn parse(input: ParseStream) -> syn::Result<Input> {
    if input.is_empty() {
        return Err(syn::Error::new(Span::call_site(), missing_key()));
    }
    if starts_with_option(input) {
        return Err(input.error(missing_key()));
    }
    let key = input.parse()?;
    let options = if input.is_empty() {
        Vec::new()
    } else {
        input.parse::<Token![,]>()?;
        args::parse_list(input)?
    };
    Ok(Input { key, options })
}

fn starts_with_option(input: ParseStream) -> bool {
    let fork = input.fork();
    match fork.call(Ident::parse_any) {
        Ok(name) => {
            OPTIONS.contains(&name.to_string().as_str())
                && fork.peek(Token![=])
                && !fork.peek(Token![==])
        }
        Err(_) => false,
    }
}

fn missing_key() -> &'static str {
    "use_state! needs the state's key first, as in `use_state!(\"count\", factory = || 0)`"
}

impl UseState {
    /// The call with the options that are fine, and the errors of the rest.
    fn validate(input: Input) -> (Self, Errors) {
        let mut errors = Errors::default();
        let mut call = UseState {
            key: input.key,
            namespace: None,
            factory: None,
            ty: None,
            durable: None,
        };
        for arg in args::check_names(input.options, OPTIONS, &mut errors) {
            let name = arg.name.to_string();
            if name == DURABLE {
                match arg.value {
                    ArgValue::Flag => call.durable = Some(arg.name),
                    _ => errors.at(&arg.name, "option `durable` takes no value: `durable`"),
                }
            } else if name == TYPE {
                match arg.value {
                    ArgValue::Type(ty) => call.ty = Some(ty),
                    _ => errors.at(&arg.name, "option `type` needs a type: `type = String`"),
                }
            } else if let Some(expr) = args::expr(arg, &mut errors) {
                match name.as_str() {
                    NAMESPACE => call.namespace = Some(expr),
                    _ => call.factory = Some(expr),
                }
            }
        }
        (call, errors)
    }

    fn expand(self) -> TokenStream {
        let private = crate::private::private();
        let key = &self.key;
        let key = quote_spanned!(key.span()=> ::core::convert::AsRef::<str>::as_ref(&(#key)));
        let namespace = match &self.namespace {
            Some(ns) => quote_spanned! {ns.span()=>
                #private::Namespace::from(::core::convert::AsRef::<str>::as_ref(&(#ns)))
            },
            None => quote!(#private::Namespace::SESSION),
        };
        let ty = match &self.ty {
            Some(ty) => quote!(#ty),
            None => quote!(_),
        };
        match (&self.factory, &self.durable) {
            (Some(factory), Some(durable)) => {
                let call = quote_spanned! {durable.span()=>
                    #private::use_state_durable::<#ty, _, _>
                };
                quote! {{
                    #[allow(unused_imports)]
                    use #private::{DurableFallback as _, DurableViaSerde as _};
                    let __pagestate_factory = #factory;
                    let __pagestate_codec =
                        (&#private::DurableProbe::<#ty>::of(&__pagestate_factory)).durable_codec();
                    #call(#namespace, #key, __pagestate_factory, __pagestate_codec)
                }}
            }
            (None, Some(durable)) => {
                let error = syn::Error::new_spanned(
                    durable,
                    "a `durable` state needs a `factory`: `use_state!(\"k\", factory = || 0, durable)`",
                )
                .to_compile_error();
                quote!({ #error #private::use_state::<#ty>(#namespace, #key) })
            }
            (Some(factory), None) => quote! {
                #private::use_state_init::<#ty, _>(#namespace, #key, #factory)
            },
            (None, None) => quote! {
                #private::use_state::<#ty>(#namespace, #key)
            },
        }
    }
}
