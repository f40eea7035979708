# `sam build` runs build-<LogicalId> for resources with `BuildMethod: makefile`: here the policy
# sidecar layer (rust-cargolambda builds functions, not layers). The extension goes to
# /opt/extensions/policy-sidecar. LAMBDA_ARCH_FLAG must match the template's Architecture:
# --arm64 (the default, needs zig) or --x86-64 (with CARGO_LAMBDA_COMPILER=cargo, no zig).
LAMBDA_ARCH_FLAG ?= --arm64

build-PolicySidecarLayer:
	cargo lambda build --release --extension --bin policy-sidecar $(LAMBDA_ARCH_FLAG) \
		--lambda-dir "$(ARTIFACTS_DIR)"
	test -x "$(ARTIFACTS_DIR)/extensions/policy-sidecar"

.PHONY: build-PolicySidecarLayer
