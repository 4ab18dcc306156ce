# The two commands that matter: `make up` (run it) and `make test` (prove it).
# Each sets up whatever is missing first; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup toolchain images test up sandbox sandbox-down bench minikube-up minikube-down manifests

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install everything: .venv, the Kubernetes toolchain, component prerequisites
	@scripts/setup.sh

toolchain: ## Build/fetch only the pinned Kubernetes toolchain into ~/.cache/todo-chatbot
	@scripts/toolchain.sh

images: ## Build the three images (cached by content); refs in ~/.cache/todo-chatbot/images/images.json
	@scripts/images.sh

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

minikube-up: ## Minikube: build images inside it, install the chart, wait, smoke-check (5-minute target)
	@scripts/minikube-up.sh

minikube-down: ## Uninstall the app from Minikube (--delete removes the profile)
	@scripts/minikube-down.sh

manifests: ## Re-render k8s/manifests from the chart
	@k8s/render-manifests.sh
