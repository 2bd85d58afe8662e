# fabcommons: every target creates .venv from pyproject.toml when it is missing
# or older than pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
# Parallel test workers: the integration tests are independent.
TEST_WORKERS ?= 2

.PHONY: demo test lint bench clean vendor

# The web UI's (node/web) browser libraries, from the npm registry at pinned
# versions whose tarballs must match the pinned integrities; git-ignored.
# three.js draws the design page's 3D view; js-yaml and smol-toml read OKH
# manifests on the publish page.
THREE_VERSION := 0.187.0
THREE_INTEGRITY := sha512-Qiu7R+Cmh8CstZsY1uJOSWnVlfo7ZtNLV7mF8Jltk3LB3AtDu9cRZlcnRKkAk8Y4z6KKw35z7Y7Urd7jWY8etA==
JSYAML_VERSION := 5.5.0
JSYAML_INTEGRITY := sha512-paNr4LFIFPjeeSmwNYdrb8FafLLG/Cr2Af3GjbsHJ5CxIjH4r0c2emlmRdAtpPAieP1gRVzk6buBbVP5gBMGAg==
SMOLTOML_VERSION := 1.9.1
SMOLTOML_INTEGRITY := sha512-j7WyPdf0CJoutMzMoPLF/bVXHtKZIT9Rb4eGeEbWw8X2t5oirjPgpL+OpaENZrILYaXqYwnVH+qgUwVbl+pUJQ==
VENDOR := node/web/static/vendor
THREE_STAMP := $(VENDOR)/three/.version-$(THREE_VERSION)
LIBS_STAMP := $(VENDOR)/.libs-$(JSYAML_VERSION)-$(SMOLTOML_VERSION)
THREE_ADDONS := controls/OrbitControls.js loaders/STLLoader.js loaders/OBJLoader.js \
	loaders/PLYLoader.js loaders/3MFLoader.js loaders/GLTFLoader.js libs/fflate.module.js \
	utils/BufferGeometryUtils.js utils/SkeletonUtils.js

# $(call npm_fetch,package,version,integrity): its tarball from the npm registry,
# checked against the integrity, unpacked into $(VENDOR)/.tmp/package/.
define npm_fetch
	rm -rf $(VENDOR)/.tmp && mkdir -p $(VENDOR)/.tmp
	cd $(VENDOR)/.tmp && npm pack --silent $(1)@$(2) >/dev/null
	test "$$($(PYTHON) -c 'import base64,hashlib,sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' $(VENDOR)/.tmp/$(1)-$(2).tgz)" = "$(3)"
	tar -xzf $(VENDOR)/.tmp/$(1)-$(2).tgz -C $(VENDOR)/.tmp
endef

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

$(THREE_STAMP):
	rm -rf $(VENDOR)/three
	$(call npm_fetch,three,$(THREE_VERSION),$(THREE_INTEGRITY))
	mkdir -p $(VENDOR)/three/build
	cp $(VENDOR)/.tmp/package/LICENSE $(VENDOR)/three/
	cp $(VENDOR)/.tmp/package/build/three.module.js $(VENDOR)/.tmp/package/build/three.core.js $(VENDOR)/three/build/
	for f in $(THREE_ADDONS); do mkdir -p $(VENDOR)/three/addons/$$(dirname $$f) && cp $(VENDOR)/.tmp/package/examples/jsm/$$f $(VENDOR)/three/addons/$$f || exit 1; done
	rm -rf $(VENDOR)/.tmp
	touch $@

$(LIBS_STAMP):
	rm -rf $(VENDOR)/js-yaml $(VENDOR)/smol-toml $(VENDOR)/.libs-*
	$(call npm_fetch,js-yaml,$(JSYAML_VERSION),$(JSYAML_INTEGRITY))
	mkdir -p $(VENDOR)/js-yaml
	cp $(VENDOR)/.tmp/package/LICENSE $(VENDOR)/.tmp/package/dist/js-yaml.mjs $(VENDOR)/js-yaml/
	$(call npm_fetch,smol-toml,$(SMOLTOML_VERSION),$(SMOLTOML_INTEGRITY))
	mkdir -p $(VENDOR)/smol-toml
	cp $(VENDOR)/.tmp/package/LICENSE $(VENDOR)/.tmp/package/dist/*.js $(VENDOR)/smol-toml/
	rm -rf $(VENDOR)/.tmp
	touch $@

vendor: $(THREE_STAMP) $(LIBS_STAMP)

demo: $(STAMP) vendor
	$(PY) -m node.demo $(ARGS)

test: $(STAMP) vendor
	$(PY) -m pytest -n $(TEST_WORKERS) -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench.run $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
