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

# Which PostgreSQL: PG_CONFIG from the environment or the command line, else
# pg_config on the PATH (on Debian a wrapper that runs the newest installed
# server's pg_config), else Debian's PostgreSQL 15.  Only PostgreSQL 15 is
# supported.  Before `make deps` has installed PostgreSQL there is no
# pg_config: then only the project's own goals (deps, and test/demo/bench,
# which run deps first) work.
PG_MAJOR_SUPPORTED = 15
PG_CONFIG_DEBIAN = /usr/lib/postgresql/$(PG_MAJOR_SUPPORTED)/bin/pg_config
ifeq ($(strip $(PG_CONFIG)),)
PG_CONFIG := $(firstword $(shell command -v pg_config 2>/dev/null) $(wildcard $(PG_CONFIG_DEBIAN)))
endif
PG_VERSION_FOUND := $(if $(PG_CONFIG),$(shell $(PG_CONFIG) --version 2>/dev/null))
PG_MAJOR := $(shell echo '$(PG_VERSION_FOUND)' | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
PG_CONFIG_HINT = set PG_CONFIG to the pg_config of a PostgreSQL $(PG_MAJOR_SUPPORTED) installation, e.g. make PG_CONFIG=$(PG_CONFIG_DEBIAN) (Debian package postgresql-server-dev-$(PG_MAJOR_SUPPORTED); make deps installs it)
# goals that work without PostgreSQL's build files
NO_PGXS_GOALS = deps demo stop test bench
GOALS = $(or $(MAKECMDGOALS),all)

ifeq ($(PG_MAJOR),)
NO_PGXS_YET = 1
ifneq ($(filter-out $(NO_PGXS_GOALS),$(GOALS)),)
$(error no usable pg_config (PG_CONFIG=$(or $(PG_CONFIG),<none found on the PATH nor at $(PG_CONFIG_DEBIAN)>)): run make deps as root to install PostgreSQL $(PG_MAJOR_SUPPORTED), or $(PG_CONFIG_HINT))
endif
else ifneq ($(PG_MAJOR),$(PG_MAJOR_SUPPORTED))
NO_PGXS_YET = 1
ifneq ($(filter-out deps stop,$(GOALS)),)
$(error bulkorder supports PostgreSQL $(PG_MAJOR_SUPPORTED) only, but PG_CONFIG=$(PG_CONFIG) is $(PG_VERSION_FOUND): $(PG_CONFIG_HINT))
endif
else
PGXS := $(shell $(PG_CONFIG) --pgxs)
ifeq ($(wildcard $(PGXS)),)
NO_PGXS_YET = 1
ifneq ($(filter-out $(NO_PGXS_GOALS),$(GOALS)),)
$(error PG_CONFIG=$(PG_CONFIG) ($(PG_VERSION_FOUND)) has no PGXS at $(or $(PGXS),<none>): install postgresql-server-dev-$(PG_MAJOR_SUPPORTED) (make deps), or $(PG_CONFIG_HINT))
endif
else
include $(PGXS)
endif
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
