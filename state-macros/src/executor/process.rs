//! The expansion of `#[executor(process)]`: the body becomes an inner
//! function that a worker process calls by its registered id, with the
//! arguments and the result encoded in between; the function returns a
//! future of the decoded result. Every serde bound is checked on the
//! user's type.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, ReturnType, Signature};

use super::function::output_type;
use super::options::Options;
use crate::attrs;
use crate::private::private;
use crate::signature::{self, future_of, Argument};

pub(super) fn expand(options: &Options, function: ItemFn) -> TokenStream {
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
                return None; // refused by function::check
            };
            let name = signature::binding(&arg.pat)
                .cloned()
                .unwrap_or_else(|| signature::unnamed(n, arg.pat.span()));
            Some(Argument {
                name,
                ty: (*arg.ty).clone(),
            })
        })
        .collect();
    let names: Vec<&Ident> = arguments.iter().map(|a| &a.name).collect();
    // Every serde bound is checked by `codec::<T>()`, spanned on the
    // user's type; identical errors from its repeated uses are merged.
    // `PickCodec` then swaps in the block codec for `Vec<u8>` (by type, so
    // aliases too); it has no bound of its own to fail.
    let pick = |ty: &syn::Type| {
        let check = quote_spanned!(ty.span()=> #private::codec::<#ty>());
        quote!(#private::PickCodec(#check).__pagestate_codec())
    };
    let codecs: Vec<TokenStream> = arguments.iter().map(|a| pick(&a.ty)).collect();
    let output_codec = pick(&output);
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
    let timeout = options.timeout();
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
                worker: #private::worker_main,
            };

            // In scope for `__pagestate_serve` too: items see the block's
            // imports.
            use #private::PickAny as _;
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
