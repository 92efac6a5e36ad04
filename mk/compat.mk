# The SDK compatibility matrix: real clients against every mode aws-credfile offers,
# through a credential rotation, written down in docs/compatibility.md and README.md's table.
#
#   make compat        install what the clients need (below), build the binary, run the matrix
#                      (compat/run.py, inside a network namespace of its own when one can be made),
#                      rewrite docs/compatibility.{json,md} and the README table from what happened.
#                      About 5 minutes once installed; COMPAT_STRICT=1 (CI) also fails when an
#                      outcome changed against the committed docs/compatibility.json, or a cell
#                      that ran there did not run now (the run names it and why).
#   make compat-check  cheap, no client: the README table and docs/compatibility.md agree with
#                      docs/compatibility.json (part of `make test`)
#   make compat-venv   .venv-compat: boto3, botocore and the AWS CLI v1 (requirements-compat.txt)
#   make compat-npm    compat/js/node_modules: the AWS SDKs for JavaScript v2 and v3 (package-lock.json)
#   make compat-go     the Go probes, from Debian's packaged aws-sdk-go and aws-sdk-go-v2 in GOPATH
#                      mode: no module is downloaded
#
# AWS_CREDFILE_BIN=/path/to/aws-credfile runs the matrix against another build (no cargo build).
# COMPAT_ARGS passes options to compat/run.py, e.g. COMPAT_ARGS='--only boto3,go-v2' (a partial
# run leaves the docs alone) or '--lifetime 180'.

# Debian packages: the Go toolchain and both packaged Go SDKs, rclone, the AWS SDK for Ruby (with
# Ruby), and ip (iproute2) for the namespace's loopback.
COMPAT_DEBS ?= golang-go golang-github-aws-aws-sdk-go-dev golang-github-aws-aws-sdk-go-v2-dev rclone \
	ruby-aws-sdk-s3 iproute2
COMPAT_VENV ?= .venv-compat
COMPAT_VENV_STAMP := $(COMPAT_VENV)/.installed
COMPAT_REQUIREMENTS := requirements-compat.txt
COMPAT_NPM_STAMP := compat/js/node_modules/.installed
COMPAT_STRICT ?=
COMPAT_ARGS ?=
# The Go probes and their build cache live under cargo's target directory (ignored by git).
COMPAT_DIRS = td="$(TARGET_DIR)"; gobin="$$td/compat/bin"

.PHONY: compat compat-check compat-deps compat-venv compat-npm compat-go

compat: compat-deps venv compat-venv compat-npm compat-go
	@$(COMPAT_DIRS); \
	if [ -z "$$AWS_CREDFILE_BIN" ]; then \
		$(CARGO) build --locked && export AWS_CREDFILE_BIN="$$td/debug/aws-credfile"; \
	fi; \
	compat/netns.sh $(VENV_PY) compat/run.py --work "$$td/compat/run" \
		--python $(COMPAT_VENV)/bin/python --go-bin "$$gobin" --node node --rclone rclone --ruby ruby \
		$(if $(COMPAT_STRICT),--strict) $(COMPAT_ARGS)

# No client is run: the pages made from docs/compatibility.json must match it.
compat-check: venv
	$(VENV_PY) -m pytest -q tests/compat

# node and npm come with this project's machines; Debian's are the fallback. Debian 12's is Node 18,
# older than the pinned @aws-sdk v3 declares (`engines` in compat/js/package-lock.json): npm installs
# it anyway, and compat/run.py then reports that client's cells as not run, naming the package and
# the Node it needs (compat/engines.py), instead of running it on a Node it does not support.
compat-deps:
	@PYTHON="$(PYTHON)" scripts/deps.sh $(COMPAT_DEBS)
	@command -v npm >/dev/null 2>&1 || PYTHON="$(PYTHON)" scripts/deps.sh nodejs npm

compat-venv: $(COMPAT_VENV_STAMP)

ifneq ($(shell $(COMPAT_VENV)/bin/python -c 'print("ok")' 2>/dev/null),ok)
.PHONY: $(COMPAT_VENV_STAMP)
endif

# From scratch when the pins change, like .venv; the .gitignore inside keeps it out of git.
$(COMPAT_VENV_STAMP): $(COMPAT_REQUIREMENTS)
	@$(MAKE) --no-print-directory deps
	rm -rf $(COMPAT_VENV)
	$(PYTHON) -m venv $(COMPAT_VENV)
	echo '*' > $(COMPAT_VENV)/.gitignore
	$(COMPAT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $(COMPAT_REQUIREMENTS)
	$(COMPAT_VENV)/bin/python -m pip check
	touch $@

compat-npm: $(COMPAT_NPM_STAMP)

# npm ci installs exactly the lockfile, into compat/js/node_modules only.
$(COMPAT_NPM_STAMP): compat/js/package.json compat/js/package-lock.json
	cd compat/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# GOPATH mode over Debian's /usr/share/gocode: GO111MODULE=off and GOPROXY=off, so a missing
# package fails the build instead of being fetched.
compat-go:
	@$(COMPAT_DIRS); mkdir -p "$$gobin" \
	&& export GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$$td/compat/gopath:/usr/share/gocode" \
		GOCACHE="$$td/compat/gocache" \
	&& go build -o "$$gobin/probe-go-v1" compat/go/v1/main.go \
	&& go build -o "$$gobin/probe-go-v2" compat/go/v2/main.go
