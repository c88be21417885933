//! `#[executor(thread | process, with_script_run_context = .., timeout = ..)]`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Attribute, Expr, ExprLit, FnArg, Ident, ItemFn, Lit, ReturnType, Signature, Type};

use crate::args::{self, Arg, ArgValue, Errors};
use crate::attrs;
use crate::durations::{self, DurationArg};
use crate::fallback;
use crate::private::private;
use crate::signature::{self, future_of, Argument};

const THREAD: &str = "thread";
const PROCESS: &str = "process";
const WITH_SCRIPT_RUN_CONTEXT: &str = "with_script_run_context";
const TIMEOUT: &str = "timeout";
const OPTIONS: &[&str] = &[THREAD, PROCESS, WITH_SCRIPT_RUN_CONTEXT, TIMEOUT];

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "#[executor] goes on a function: `#[executor(thread)] fn f(..) -> T { .. }`",
            );
            return fallback::item_with_error(item, error);
        }
    };
    if let Some(reordered) = put_cached_outside(&args, &function) {
        return reordered;
    }
    let parsed = Parser::parse2(args::parse_list, args);
    match parsed.and_then(|options| Executor::validate(options, &function)) {
        Ok(executor) => executor.expand(function),
        Err(error) => {
            // Callers `.await` the function: keep that shape when it can be
            // written, so that they see this error and no other.
            let output = output_type(&function.sig.output);
            if contains_impl_trait(&output) || !borrows(&output, true).is_empty() {
                fallback::item_with_error(item, error)
            } else {
                fallback::executor(&function, &output, &error)
            }
        }
    }
}

/// `#[cached]` must see the function after this attribute has wrapped it,
/// whichever order the user wrote them in: when this attribute runs first
/// (it was written above `#[cached]`), it swaps the two and does nothing else.
fn put_cached_outside(args: &TokenStream, function: &ItemFn) -> Option<TokenStream> {
    let is_cached = |attr: &&Attribute| attrs::is_cached(attr);
    if !function.attrs.iter().any(|attr| is_cached(&attr)) {
        return None;
    }
    let cached = function.attrs.iter().filter(is_cached);
    let others = function.attrs.iter().filter(|attr| !is_cached(attr));
    let ItemFn {
        vis, sig, block, ..
    } = function;
    Some(quote! {
        #(#cached)*
        #[::pagestate::executor(#args)]
        #(#others)*
        #vis #sig #block
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Thread,
    Process,
}

/// A checked attribute.
struct Executor {
    kind: Kind,
    with_context: bool,
    timeout: Option<DurationArg>,
}

impl Executor {
    fn validate(options: Vec<Arg>, function: &ItemFn) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let mut kind: Option<(Kind, Ident)> = None;
        let mut with_context: Option<(bool, Ident)> = None;
        let mut timeout = None;
        // `#[executor(thred)]` is one mistake, reported once: as an unknown
        // option, not also as a missing kind.
        let misspelt_kind = options.iter().any(|arg| {
            let name = arg.name.to_string();
            !OPTIONS.contains(&name.as_str()) && args::closest(&name, &[THREAD, PROCESS]).is_some()
        });
        for arg in args::check_names(options, OPTIONS, &mut errors) {
            let name = arg.name.to_string();
            match name.as_str() {
                THREAD | PROCESS => {
                    if !matches!(arg.value, ArgValue::Flag) {
                        errors.at(
                            &arg.name,
                            format_args!("`{name}` takes no value: `#[executor({name})]`"),
                        );
                    }
                    let this = if name == THREAD {
                        Kind::Thread
                    } else {
                        Kind::Process
                    };
                    match &kind {
                        Some(_) => errors.at(
                            &arg.name,
                            "choose one executor: `thread` or `process`, not both",
                        ),
                        None => kind = Some((this, arg.name)),
                    }
                }
                WITH_SCRIPT_RUN_CONTEXT => {
                    let name = arg.name.clone();
                    if let Some(expr) = args::expr(arg, &mut errors) {
                        match bool_literal(&expr) {
                            Some(value) => with_context = Some((value, name)),
                            None => {
                                errors.at(&expr, "`with_script_run_context` is `true` or `false`")
                            }
                        }
                    }
                }
                _ => {
                    let Some(expr) = args::expr(arg, &mut errors) else {
                        continue;
                    };
                    let literal = expr.clone();
                    match durations::parse(TIMEOUT, expr, &mut errors) {
                        Some(limit) if limit.is_zero() => errors.at(
                            literal,
                            "`timeout` must be greater than 0: no job finishes in no time; \
                             leave `timeout` out to wait as long as the job takes",
                        ),
                        limit => timeout = limit,
                    }
                }
            }
        }
        let kind = match kind {
            Some((kind, _)) => kind,
            None => {
                if !misspelt_kind {
                    errors.push(syn::Error::new(
                    Span::call_site(),
                    "say where the function runs: `#[executor(thread)]` or `#[executor(process)]`",
                ));
                }
                Kind::Thread
            }
        };
        if let (Kind::Process, Some((_, name))) = (kind, &with_context) {
            errors.at(
                name,
                "`with_script_run_context` is not available with `process`: a worker process \
                 cannot see the caller's session; use `#[executor(thread, with_script_run_context = true)]`",
            );
        }
        check_signature(kind, &function.sig, &mut errors);
        errors.finish()?;
        Ok(Executor {
            kind,
            with_context: with_context.is_some_and(|(value, _)| value),
            timeout,
        })
    }

    fn expand(self, function: ItemFn) -> TokenStream {
        match self.kind {
            Kind::Thread => self.expand_thread(function),
            Kind::Process => self.expand_process(function),
        }
    }

    fn timeout(&self) -> TokenStream {
        match &self.timeout {
            Some(limit) => {
                let limit = limit.to_duration();
                quote!(::core::option::Option::Some(#limit))
            }
            None => quote!(::core::option::Option::None),
        }
    }

    fn expand_thread(self, function: ItemFn) -> TokenStream {
        let private = private();
        let ItemFn {
            attrs,
            vis,
            mut sig,
            block,
        } = function;
        let (attrs, inner_attrs) = attrs::split(&attrs);
        let output = output_type(&sig.output);
        let nameable = !contains_impl_trait(&output);
        let assertions = sig.inputs.iter().filter_map(|input| match input {
            FnArg::Typed(arg) if !contains_impl_trait(&arg.ty) => {
                let ty = &arg.ty;
                Some(quote_spanned!(ty.span()=> #private::assert_thread_value::<#ty>();))
            }
            _ => None,
        });
        let output_assertion = nameable
            .then(|| quote_spanned!(output.span()=> #private::assert_thread_value::<#output>();));
        let job = match (sig.asyncness.is_some(), nameable) {
            (false, true) => quote!(move || -> #output #block),
            (false, false) => quote!(move || #block),
            // Built at the call, so that it sees the caller's async runtime.
            (true, true) => quote!(#private::async_job::<#output, _>(async move #block)),
            (true, false) => quote!(#private::async_job(async move #block)),
        };
        let with_context = self.with_context;
        let timeout = self.timeout();
        sig.asyncness = None;
        sig.output = future_of(&output);
        quote! {
            #(#attrs)*
            #vis #sig {
                #(#inner_attrs)*
                #(#assertions)*
                #output_assertion
                #private::run_on_thread(#job, #with_context, #timeout)
            }
        }
    }

    fn expand_process(self, function: ItemFn) -> TokenStream {
        let private = private();
        let ItemFn {
            attrs,
            vis,
            sig,
            block,
        } = function;
        let (attrs, inner_attrs) = attrs::split(&attrs);
        let stmts = &block.stmts;
        let output = output_type(&sig.output);
        let name = sig.ident.to_string();
        let arguments: Vec<Argument> = sig
            .inputs
            .iter()
            .enumerate()
            .filter_map(|(n, input)| {
                let FnArg::Typed(arg) = input else {
                    return None; // refused by check_signature
                };
                let name = signature::binding(&arg.pat)
                    .cloned()
                    .unwrap_or_else(|| signature::unnamed(n, Span::call_site()));
                Some(Argument {
                    name,
                    ty: (*arg.ty).clone(),
                })
            })
            .collect();
        let names: Vec<&Ident> = arguments.iter().map(|a| &a.name).collect();
        // Every serde bound is checked by `codec::<T>()`, spanned on the
        // user's type; identical errors from its repeated uses are merged.
        let codecs: Vec<TokenStream> = arguments
            .iter()
            .map(|a| {
                let ty = &a.ty;
                quote_spanned!(ty.span()=> #private::codec::<#ty>())
            })
            .collect();
        let output_codec = quote_spanned!(output.span()=> #private::codec::<#output>());
        let body_sig = Signature {
            ident: Ident::new("__pagestate_body", sig.ident.span()),
            output: ReturnType::Type(Default::default(), Box::new(output.clone())),
            ..sig.clone()
        };
        let outer_sig = Signature {
            inputs: syn::parse_quote!(#(#arguments),*),
            output: future_of(&output),
            ..sig
        };
        let timeout = self.timeout();
        quote! {
            #(#attrs)*
            #vis #outer_sig {
                #body_sig {
                    #(#inner_attrs)*
                    #(#stmts)*
                }

                fn __pagestate_serve(
                    __pagestate_rest: &[u8],
                ) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                    #(let (#names, __pagestate_rest) = #codecs.take(__pagestate_rest)?;)*
                    #output_codec.encode_result(&__pagestate_body(#(#names),*))
                }

                #[#private::linkme::distributed_slice(#private::PROCESS_FUNCTIONS)]
                #[linkme(crate = #private::linkme)]
                static __PAGESTATE_FUNCTION: #private::ProcessFunction = #private::ProcessFunction {
                    id: ::core::concat!(
                        ::core::module_path!(), "::", #name,
                        "@", ::core::line!(), ":", ::core::column!()
                    ),
                    call: __pagestate_serve,
                };

                let mut __pagestate_arguments = ::core::result::Result::Ok(::std::vec::Vec::new());
                #(#codecs.encode_into(&#names, &mut __pagestate_arguments);)*
                #private::run_in_process(
                    &__PAGESTATE_FUNCTION,
                    __pagestate_arguments,
                    #output_codec,
                    #timeout,
                )
            }
        }
    }
}

fn output_type(output: &ReturnType) -> Type {
    match output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    }
}

fn bool_literal(expr: &Expr) -> Option<bool> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(value),
            ..
        }) => Some(value.value),
        _ => None,
    }
}

fn check_signature(kind: Kind, sig: &Signature, errors: &mut Errors) {
    if let Some(constness) = &sig.constness {
        errors.at(
            constness,
            "an executor function cannot be `const`: it returns a future",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.at(
            abi,
            "an executor function cannot have an `extern` ABI: it returns a future",
        );
    }
    match kind {
        Kind::Thread => check_thread(sig, errors),
        Kind::Process => check_process(sig, errors),
    }
}

const OWNED_HINT: &str = "`&str` -> `String`, `&[T]` -> `Vec<T>`, `&T` -> `T` or `Arc<T>`";

fn check_thread(sig: &Signature, errors: &mut Errors) {
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) if receiver.reference.is_some() => errors.at(
                receiver,
                "arguments are moved to a pool thread, so they must be owned: \
                 take `self` by value (a clone or an `Arc`) instead of a reference",
            ),
            FnArg::Receiver(_) => {}
            FnArg::Typed(arg) => {
                for borrow in borrows(&arg.ty, true) {
                    errors.at(
                        borrow,
                        format_args!(
                            "arguments are moved to a pool thread, so they must be owned: \
                             {OWNED_HINT}"
                        ),
                    );
                }
            }
        }
    }
}

fn check_process(sig: &Signature, errors: &mut Errors) {
    if let Some(asyncness) = &sig.asyncness {
        errors.at(
            asyncness,
            "`#[executor(process)]` runs a sync function in a worker process: \
             remove `async`, or use `#[executor(thread)]`",
        );
    }
    if sig.generics.lt_token.is_some() {
        errors.at(
            &sig.generics,
            "`#[executor(process)]` functions cannot be generic: the worker decodes the \
             arguments into concrete types; write the types out",
        );
    }
    let mut types = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.at(
                receiver,
                "`#[executor(process)]` functions cannot take `self`: the worker process \
                 has no `self` to call them on; pass the data as an argument",
            ),
            FnArg::Typed(arg) => types.push(&*arg.ty),
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        types.push(ty);
    }
    for ty in types {
        for borrow in borrows(ty, false) {
            errors.at(
                borrow,
                format_args!(
                    "arguments and results are copied to and from a worker process, \
                     so they must be owned: {OWNED_HINT}"
                ),
            );
        }
        for impl_trait in impl_traits(ty) {
            errors.at(
                impl_trait,
                "`#[executor(process)]` cannot take or return `impl Trait`: the worker \
                 decodes into a concrete type; name the type",
            );
        }
    }
}

/// References and lifetimes in `ty`, except `'static` ones if allowed.
fn borrows(ty: &Type, allow_static: bool) -> Vec<TokenStream> {
    struct Borrows(Vec<TokenStream>, bool);
    impl<'ast> Visit<'ast> for Borrows {
        fn visit_type_reference(&mut self, reference: &'ast syn::TypeReference) {
            let is_static = reference
                .lifetime
                .as_ref()
                .is_some_and(|lifetime| lifetime.ident == "static");
            if !(self.1 && is_static) {
                self.0.push(reference.to_token_stream());
            } else {
                visit::visit_type_reference(self, reference);
            }
        }
        fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
            if !(self.1 && lifetime.ident == "static") {
                self.0.push(lifetime.to_token_stream());
            }
        }
    }
    let mut found = Borrows(Vec::new(), allow_static);
    found.visit_type(ty);
    found.0
}

fn impl_traits(ty: &Type) -> Vec<TokenStream> {
    #[derive(Default)]
    struct ImplTraits(Vec<TokenStream>);
    impl<'ast> Visit<'ast> for ImplTraits {
        fn visit_type_impl_trait(&mut self, impl_trait: &'ast syn::TypeImplTrait) {
            self.0.push(impl_trait.to_token_stream());
        }
    }
    let mut found = ImplTraits::default();
    found.visit_type(ty);
    found.0
}

fn contains_impl_trait(ty: &Type) -> bool {
    !impl_traits(ty).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str) -> String {
        expand(args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    fn normalized(tokens: &str) -> String {
        tokens.parse::<TokenStream>().unwrap().to_string()
    }

    #[test]
    fn cached_written_below_is_moved_above_unchanged() {
        let out = expand_str(
            "process , timeout = 5",
            "/// Squares.\n#[pagestate::cached(ttl = 5)] #[inline] pub fn f(n: u64) -> u64 { n * n }",
        );
        let expected = normalized(
            "#[pagestate::cached(ttl = 5)] \
             #[::pagestate::executor(process , timeout = 5)] \
             #[doc = \" Squares.\"] #[inline] \
             pub fn f(n: u64) -> u64 { n * n }",
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn cached_by_bare_name_is_recognised_and_lookalikes_are_not() {
        let out = expand_str("thread", "#[cached] fn f() {}");
        assert!(out.starts_with(&normalized("#[cached] #[::pagestate::executor(thread)]")));
        let out = expand_str("thread", "#[not_cached] fn f() {}");
        assert!(out.contains("run_on_thread"), "{out}");
    }

    #[test]
    fn without_cached_the_function_is_expanded() {
        let out = expand_str("thread", "fn f(n: u64) -> u64 { n }");
        assert!(out.contains("run_on_thread"), "{out}");
        let out = expand_str("process", "fn f(n: u64) -> u64 { n }");
        assert!(out.contains("run_in_process"), "{out}");
        assert!(out.contains("PROCESS_FUNCTIONS"), "{out}");
    }

    #[test]
    fn errors_keep_the_function_and_list_every_mistake() {
        let out = expand_str("process, tmeout = 1", "async fn f(s: &str) {}");
        // The function keeps the shape callers await: a future of the result.
        assert!(
            out.contains("fn f (s : & str) -> impl :: core :: future :: Future"),
            "{out}"
        );
        assert!(
            out.contains("unknown option `tmeout`; did you mean `timeout`?"),
            "{out}"
        );
        assert!(out.contains("remove `async`"), "{out}");
        assert!(out.contains("so they must be owned"), "{out}");
    }

    #[test]
    fn static_references_are_owned_enough() {
        let ty: Type = syn::parse_quote!(&'static str);
        assert!(borrows(&ty, true).is_empty());
        assert_eq!(borrows(&ty, false).len(), 1);
        let ty: Type = syn::parse_quote!(Vec<&'a str>);
        assert_eq!(borrows(&ty, true).len(), 1);
        let ty: Type = syn::parse_quote!(std::borrow::Cow<'_, str>);
        assert_eq!(borrows(&ty, true).len(), 1);
    }
}
