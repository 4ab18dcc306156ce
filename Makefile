# The two commands that matter: `make up` (run it) and `make test` (prove it).
# Each sets up whatever is missing first; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup toolchain images test up down dev sandbox sandbox-down bench minikube-up minikube-down manifests

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

up: ## Set everything up, deploy the app to the local Kubernetes cluster (real node), serve http://localhost:3000
	@scripts/up.sh

down: ## Remove the local cluster and undo what its node changed on this machine
	@.venv/bin/python tests/cluster/sandbox.py down && rm -f .run/kubeconfig

dev: ## Quick iteration: the components as host processes (no images), until Ctrl-C
	@scripts/dev.sh

sandbox: ## Start the local cluster alone (control plane, a real node, KWOK nodes) and print its KUBECONFIG
	@scripts/setup.sh && .venv/bin/python tests/cluster/sandbox.py up

sandbox-down: down ## Same as make down

bench: ## Run the benchmarks in bench/ (numbers, not pass/fail)
	@scripts/setup.sh && for b in bench/*.py; do echo "== $$b"; .venv/bin/python "$$b" || exit 1; done

minikube-up: ## Minikube: build images inside it, install the chart, wait, smoke-check (5-minute target)
	@scripts/minikube-up.sh

minikube-down: ## Uninstall the app from Minikube (--delete removes the profile)
	@scripts/minikube-down.sh

manifests: ## Re-render k8s/manifests from the chart
	@k8s/render-manifests.sh
