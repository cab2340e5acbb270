# bulkorder — PGXS build, plus the project's two commands: `make demo`, `make test`.

EXTENSION = bulkorder
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = bulkorder
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/src/*.c)))
PG_CPPFLAGS = -I$(srcdir)/extension/include
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

# The install script is generated from the readable sources, in this order:
# domain, jobs, catalogue, views, API, the operations of each page, then the
# wrappers generated from the catalogue and the grants.
SQL_SOURCES = $(sort $(wildcard extension/sql/[0-5]*.sql)) \
              $(sort $(wildcard extension/sql/operations/*.sql)) \
              $(sort $(wildcard extension/sql/[6-9]*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(wildcard extension/sql/upgrades/$(EXTENSION)--*--*.sql)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))

EXTRA_CLEAN = $(DATA_built) results output_iso regression.diffs regression.out

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
ifeq ($(wildcard $(PG_CONFIG)),)
# before `make deps` has run there is no pg_config: only the project's own targets work
NO_PGXS_YET = 1
else
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
endif

# Debian's PGXS compiles LLVM bitcode when clang is there; skip it when not.
ifeq ($(shell command -v clang 2>/dev/null),)
with_llvm = no
endif

$(DATA_built): $(SQL_SOURCES) $(EXTENSION).control
	{ echo '-- Generated from extension/sql by make: edit the sources, not this file.'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	  for f in $(SQL_SOURCES); do echo; echo "-- ==== $$f"; cat $$f; done; } > $@

# PGXS tracks no header dependencies: every object depends on the shared header.
$(OBJS): extension/include/bulkorder.h

.PHONY: deps demo stop test bench

deps:
	bash tools/deps.sh

demo: deps
	$(MAKE) all
	bash tools/demo.sh

stop:
	bash tools/pg.sh stop demo

test: deps
	$(MAKE) all
	bash tools/test.sh

bench: deps
	$(MAKE) all
	bash bench/run.sh
