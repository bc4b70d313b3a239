# Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
# meshgate build, test, benchmark and demo entry points.
#
#   make                 module against Debian's nginx-dev
#   make NGINX_SRC=dir   module against an nginx source tree
#   make test            prove -r t/ with the module
#   make test-asan       the same, module built with AddressSanitizer

NGINX_SRC     ?= /usr/share/nginx/src
NGINX         ?= /usr/sbin/nginx
NGINX_CONFIGURE_ARGS ?= --with-compat
BUILD         ?= build
ASAN_BUILD    ?= build-asan
MODULE_NAME    = ngx_http_meshgate_module.so
MODULE         = $(BUILD)/modules/$(MODULE_NAME)
ASAN_MODULE    = $(ASAN_BUILD)/modules/$(MODULE_NAME)
MODULES_DIR   ?= /usr/lib/nginx/modules
PROVE_ARGS    ?= -r
FUZZ_SECONDS  ?= 60
CC            ?= cc

SOURCES = config $(wildcard lib/*.c lib/*.h modules/*/*.c modules/*/*.h)

ASAN_CFLAGS = -fsanitize=address -fno-omit-frame-pointer -g -O1
ASAN_LIB    = $(shell $(CC) -print-file-name=libasan.so)

.PHONY: all deps test test-asan bench fuzz demo demo-stop install clean

all: $(MODULE)

# The first build copies the nginx tree (read-only under /usr/share) and
# configures it with the same flags as the nginx it will be loaded into
# (Debian's conf_flags), so that the module's structures match the binary's.
# Later builds reuse that tree while config, the nginx tree and the flags
# stay the same (scripts/build-module keeps a stamp of them), and nginx's
# own Makefile rebuilds only what a change touched.
$(MODULE): $(SOURCES)
	@scripts/check-deps build
	scripts/build-module "$(NGINX_SRC)" "$(BUILD)" "" "$(NGINX_CONFIGURE_ARGS)"

$(ASAN_MODULE): $(SOURCES)
	@scripts/check-deps build
	scripts/build-module "$(NGINX_SRC)" "$(ASAN_BUILD)" "$(ASAN_CFLAGS)" \
	    "$(NGINX_CONFIGURE_ARGS)"

deps:
	scripts/check-deps install

test: $(MODULE)
	@scripts/check-deps test
	MESHGATE_MODULE=$(CURDIR)/$(MODULE) NGINX=$(NGINX) \
	    prove $(PROVE_ARGS) t/

test-asan: $(ASAN_MODULE)
	@scripts/check-deps test
	MESHGATE_MODULE=$(CURDIR)/$(ASAN_MODULE) NGINX=$(NGINX) \
	    MESHGATE_PRELOAD=$(ASAN_LIB) prove $(PROVE_ARGS) t/

bench: $(MODULE)
	@scripts/check-deps bench
	MESHGATE_MODULE=$(CURDIR)/$(MODULE) NGINX=$(NGINX) bench/run

fuzz:
	@scripts/check-deps fuzz
	$(MAKE) -C fuzz run SECONDS=$(FUZZ_SECONDS)

demo: $(MODULE)
	@scripts/check-deps test
	MESHGATE_MODULE=$(CURDIR)/$(MODULE) NGINX=$(NGINX) scripts/demo start

demo-stop:
	scripts/demo stop

install: $(MODULE)
	install -d $(DESTDIR)$(MODULES_DIR)
	install -m 644 $(MODULE) $(DESTDIR)$(MODULES_DIR)/$(MODULE_NAME)
	install -d $(DESTDIR)/usr/share/nginx/modules-available
	echo "load_module modules/$(MODULE_NAME);" \
	    > $(DESTDIR)/usr/share/nginx/modules-available/mod-meshgate.conf
	@echo "enable with: ln -s /usr/share/nginx/modules-available/mod-meshgate.conf /etc/nginx/modules-enabled/50-mod-meshgate.conf"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
	$(MAKE) -C fuzz clean
