# The two commands that matter: `make up` (run it) and `make test` (prove it).
# Each sets up whatever is missing first; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup toolchain test up sandbox sandbox-down bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install everything: .venv, the Kubernetes toolchain, component prerequisites
	@scripts/setup.sh

toolchain: ## Build/fetch only the pinned Kubernetes toolchain into ~/.cache/todo-chatbot
	@scripts/toolchain.sh

test: ## Set everything up and run every test (non-zero exit on any failure)
	@scripts/test.sh

up: ## Set everything up and run the whole system locally on embedded defaults
	@scripts/up.sh

sandbox: ## Start the local control plane (real apiserver + KWOK nodes) and print its KUBECONFIG
	@scripts/setup.sh && .venv/bin/python tests/cluster/sandbox.py up

sandbox-down: ## Delete the sandbox control plane
	@.venv/bin/python tests/cluster/sandbox.py down

bench: ## Run the benchmarks in bench/ (numbers, not pass/fail)
	@scripts/setup.sh && for b in bench/*.py; do echo "== $$b"; .venv/bin/python "$$b" || exit 1; done
