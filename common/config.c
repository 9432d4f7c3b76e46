/* SA_CONF parsing: "key:value,key:value". Runs inside the first malloc of a
 * process (before constructors, inside the dynamic loader), so it calls no
 * libc function that allocates: secure_getenv, its own number parsing, and
 * messages through fmt.c's stack buffer.
 *
 * Every bad item is named on stderr with the item as given, the reason and
 * what the key keeps (its default, or the value it had); the good items are
 * applied. A key given twice keeps its first value. In secure mode
 * (AT_SECURE: setuid, setgid, file capabilities) SA_CONF is not read at all,
 * as glibc ignores its tunables and jemalloc MALLOC_CONF there. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "stratalloc/config.h"

typedef enum { CONF_SIZE, CONF_BOOL } conf_type_t;

typedef struct {
  const char *name;
  conf_type_t type;
  size_t offset, def, lo, hi;
} conf_field_t;

#define CONF_TYPE_size CONF_SIZE
#define CONF_TYPE_bool CONF_BOOL
#define CONF_ROW_(type, name, def, lo, hi, help) \
  {#name, CONF_TYPE_##type, offsetof(sa_config_t, name), (size_t)(def), (size_t)(lo), (size_t)(hi)},
static const conf_field_t conf_fields[] = {SA_CONFIG_FIELDS(CONF_ROW_)};
#undef CONF_ROW_
#define CONF_COUNT (sizeof conf_fields / sizeof conf_fields[0])

_Static_assert(CONF_COUNT <= 32, "sa_config_parse tracks the keys it saw in a 32-bit mask");

#define FIELD(config, f) (*(size_t *)((char *)(config) + (f)->offset))

void sa_config_default(sa_config_t *config) {
  for (size_t i = 0; i < CONF_COUNT; i++) FIELD(config, &conf_fields[i]) = conf_fields[i].def;
}

void sa_config_from_env(sa_config_t *config) {
  sa_config_default(config);
  /* NULL in secure mode: a setuid program's user must not tune its heap. */
  const char *env = secure_getenv("SA_CONF");
  if (env != NULL && *env != '\0') sa_config_parse(config, env);
}

/* ======================================================================== */
/* Messages                                                                 */
/* ======================================================================== */

#define SHOW_MAX 96 /* bytes of an item or value shown; longer ones end in "..." */

static void put_text(sa_buf_t *b, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < len && i < SHOW_MAX; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      sa_buf_str(b, c == '\\' ? "\\\\" : "\\x");
      if (c != '\\') {
        sa_buf_char(b, hex[c >> 4]);
        sa_buf_char(b, hex[c & 15]);
      }
    } else {
      sa_buf_char(b, (char)c);
    }
  }
  if (len > SHOW_MAX) sa_buf_str(b, "...");
}

/* v in bytes, then " (4k)" when a k/m/g spelling is exact and shorter. */
static void put_size(sa_buf_t *b, size_t v) {
  sa_buf_u64(b, v);
  static const char suffix[] = "gmk";
  for (int i = 0; i < 3; i++) {
    unsigned shift = 30 - 10 * (unsigned)i;
    if (v >= ((size_t)1 << shift) && (v & (((size_t)1 << shift) - 1)) == 0) {
      sa_buf_str(b, " (");
      sa_buf_u64(b, v >> shift);
      sa_buf_char(b, suffix[i]);
      sa_buf_char(b, ')');
      return;
    }
  }
}

static void put_expected(sa_buf_t *b, const conf_field_t *f) {
  if (f->type == CONF_BOOL) {
    sa_buf_str(b, "want 0, 1, false or true");
    return;
  }
  sa_buf_str(b, "want a size from ");
  put_size(b, f->lo);
  sa_buf_str(b, " to ");
  put_size(b, f->hi);
  sa_buf_str(b, ", digits with an optional k, m or g suffix");
}

static void put_keys(sa_buf_t *b) {
  sa_buf_str(b, " (valid keys:");
  for (size_t i = 0; i < CONF_COUNT; i++) {
    sa_buf_char(b, ' ');
    sa_buf_str(b, conf_fields[i].name);
  }
  sa_buf_char(b, ')');
}

/* "stratalloc: SA_CONF: 'ITEM': " ... then report_end. */
static void report_begin(sa_buf_t *b, char *storage, size_t cap, const char *item, size_t len) {
  sa_buf_init(b, storage, cap, 2);
  sa_buf_str(b, "stratalloc: SA_CONF: '");
  put_text(b, item, len);
  sa_buf_str(b, "': ");
}

/* "; keeping KEY:VALUE (the default)" or "; ignored", newline, written. */
static void report_end(sa_buf_t *b, const sa_config_t *config, const conf_field_t *f) {
  if (f != NULL) {
    size_t now = FIELD(config, f);
    sa_buf_str(b, "; keeping ");
    sa_buf_str(b, f->name);
    sa_buf_char(b, ':');
    if (f->type == CONF_BOOL) sa_buf_u64(b, now);
    else put_size(b, now);
    if (now == f->def) sa_buf_str(b, ", the default");
  } else {
    sa_buf_str(b, "; ignored");
  }
  sa_buf_char(b, '\n');
  sa_buf_flush(b);
}

/* ======================================================================== */
/* Values                                                                   */
/* ======================================================================== */

static const conf_field_t *find_field(const char *key, size_t len) {
  for (size_t i = 0; i < CONF_COUNT; i++)
    if (strlen(conf_fields[i].name) == len && memcmp(conf_fields[i].name, key, len) == 0)
      return &conf_fields[i];
  return NULL;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

/* The key meant by a misspelt one: same letters but for case or '-' for '_'. */
static const conf_field_t *near_field(const char *key, size_t len) {
  for (size_t i = 0; i < CONF_COUNT; i++) {
    const char *n = conf_fields[i].name;
    if (strlen(n) != len) continue;
    size_t j = 0;
    while (j < len && (lower((unsigned char)key[j]) == n[j] || (key[j] == '-' && n[j] == '_'))) j++;
    if (j == len) return &conf_fields[i];
  }
  return NULL;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static int has_space(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (is_space(s[i])) return 1;
  return 0;
}

/* Parses a value for f into *out; NULL, or why not (the range checked too).
 * *bad_char is the offending character for "unexpected" reasons. */
static const char *parse_value(const conf_field_t *f, const char *s, size_t len, size_t *out,
                               char *bad_char) {
  *bad_char = 0;
  if (len == 0) return "empty value";
  if (f->type == CONF_BOOL) {
    if ((len == 1 && s[0] == '1') || (len == 4 && memcmp(s, "true", 4) == 0)) *out = 1;
    else if ((len == 1 && s[0] == '0') || (len == 5 && memcmp(s, "false", 5) == 0)) *out = 0;
    else return "not a boolean";
    return NULL;
  }
  if (s[0] == '-') return "negative";
  uint64_t v = 0;
  int overflow = 0;
  size_t i = 0;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
    uint64_t d = (uint64_t)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) overflow = 1;
    else v = v * 10 + d;
  }
  size_t shift = 0;
  if (i < len) {
    switch (s[i]) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      default: break;
    }
    if (shift && i == 0) return "a suffix without digits";
    if (shift) i++;
    if (i < len) { /* "12q", "64kb", "1.5m", "0x10", "+5" */
      *bad_char = s[i];
      return "not a size";
    }
  }
  if (overflow || (shift && v > (UINT64_MAX >> shift))) return "too large: does not fit in 64 bits";
  v <<= shift;
  if (v < f->lo) return "below the minimum";
  if (v > f->hi) return "above the maximum";
  *out = (size_t)v;
  return NULL;
}

/* Applies one item KEY:VALUE (colon at item[colon]); 0 or -1 (reported).
 * seen: the keys given earlier in the same text, first[i]: where. */
static int apply_item(sa_config_t *config, const char *item, size_t len, size_t colon,
                      uint32_t *seen, const char **first, size_t *first_len) {
  char storage[1024];
  sa_buf_t b;
  const char *key = item, *value = item + colon + 1;
  size_t key_len = colon, value_len = len - colon - 1;
  const conf_field_t *f = find_field(key, key_len);

  if (f == NULL) {
    /* " mmap_threshold" after ", ": name the key it would have been. */
    size_t lead = 0, trail = 0;
    while (lead < key_len && is_space(key[lead])) lead++;
    while (trail < key_len - lead && is_space(key[key_len - 1 - trail])) trail++;
    const conf_field_t *spaced = lead + trail ? find_field(key + lead, key_len - lead - trail) : NULL;
    report_begin(&b, storage, sizeof storage, item, len);
    if (spaced != NULL) {
      sa_buf_str(&b, "space in the key (SA_CONF is key:value,key:value without spaces)");
      report_end(&b, config, spaced);
      return -1;
    }
    sa_buf_str(&b, "unknown key '");
    put_text(&b, key, key_len);
    sa_buf_char(&b, '\'');
    const conf_field_t *near = near_field(key, key_len);
    if (near != NULL) {
      sa_buf_str(&b, " (did you mean ");
      sa_buf_str(&b, near->name);
      sa_buf_str(&b, "? keys are lower case with '_')");
    } else if (key_len == 0) {
      sa_buf_str(&b, " (nothing before ':')");
    } else {
      put_keys(&b);
    }
    report_end(&b, config, NULL);
    return -1;
  }

  size_t i = (size_t)(f - conf_fields);
  if (*seen & ((uint32_t)1 << i)) {
    report_begin(&b, storage, sizeof storage, item, len);
    sa_buf_str(&b, "duplicate key: ");
    sa_buf_str(&b, f->name);
    sa_buf_str(&b, " was given before as '");
    put_text(&b, first[i], first_len[i]);
    sa_buf_str(&b, "', the first one counts");
    report_end(&b, config, f);
    return -1;
  }
  *seen |= (uint32_t)1 << i;
  first[i] = item;
  first_len[i] = len;

  size_t v = 0;
  char bad_char = 0;
  int spaced = has_space(value, value_len);
  const char *why = spaced ? "space in the value (SA_CONF is key:value,key:value without spaces)"
                           : parse_value(f, value, value_len, &v, &bad_char);
  if (why == NULL) {
    FIELD(config, f) = v;
    return 0;
  }
  report_begin(&b, storage, sizeof storage, item, len);
  sa_buf_str(&b, why);
  if (bad_char) {
    sa_buf_str(&b, ": unexpected '");
    put_text(&b, &bad_char, 1);
    sa_buf_char(&b, '\'');
  }
  if (strcmp(why, "below the minimum") == 0) {
    sa_buf_char(&b, ' ');
    put_size(&b, f->lo);
  } else if (strcmp(why, "above the maximum") == 0) {
    sa_buf_char(&b, ' ');
    put_size(&b, f->hi);
  } else if (!spaced) {
    sa_buf_str(&b, " (");
    put_expected(&b, f);
    sa_buf_char(&b, ')');
  }
  report_end(&b, config, f);
  return -1;
}

/* Settings that are taken but do less than they say, when both were given. */
static void note_interactions(const sa_config_t *config, uint32_t seen) {
#define BIT_(name) ((uint32_t)1 << (size_t)(find_field(#name, sizeof #name - 1) - conf_fields))
  uint32_t both = BIT_(cache_fill_threshold) | BIT_(cache_flush_threshold);
#undef BIT_
  if ((seen & both) != both) return;
  if (config->cache_fill_threshold <= config->cache_flush_threshold / 2) return;
  char storage[512];
  sa_buf_t b;
  sa_buf_init(&b, storage, sizeof storage, 2);
  sa_buf_str(&b, "stratalloc: SA_CONF: note: cache_fill_threshold:");
  sa_buf_u64(&b, config->cache_fill_threshold);
  sa_buf_str(&b, " is more than half of cache_flush_threshold:");
  sa_buf_u64(&b, config->cache_flush_threshold);
  sa_buf_str(&b, "; a refill fetches at most ");
  sa_buf_u64(&b, config->cache_flush_threshold / 2);
  sa_buf_str(&b, " blocks\n");
  sa_buf_flush(&b);
}

int sa_config_set(sa_config_t *config, const char *key, const char *value) {
  /* The same checks as one SA_CONF item "key:value". */
  size_t key_len = strlen(key), value_len = strlen(value);
  char item[256];
  uint32_t seen = 0;
  const char *first[CONF_COUNT];
  size_t first_len[CONF_COUNT];
  if (key_len + value_len + 1 < sizeof item && memchr(key, ':', key_len) == NULL) {
    memcpy(item, key, key_len);
    item[key_len] = ':';
    memcpy(item + key_len + 1, value, value_len);
    return apply_item(config, item, key_len + value_len + 1, key_len, &seen, first, first_len);
  }
  char storage[512];
  sa_buf_t b;
  report_begin(&b, storage, sizeof storage, key, key_len);
  sa_buf_str(&b, key_len + value_len + 1 < sizeof item ? "':' in a key" : "key and value too long");
  report_end(&b, config, NULL);
  return -1;
}

int sa_config_parse(sa_config_t *config, const char *text) {
  int errors = 0;
  uint32_t seen = 0;
  const char *first[CONF_COUNT];
  size_t first_len[CONF_COUNT];
  if (text == NULL || *text == '\0') return 0;
  size_t total = strlen(text);
  for (const char *p = text;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char storage[1024];
    sa_buf_t b;
    if (len == 0) {
      sa_buf_init(&b, storage, sizeof storage, 2);
      sa_buf_str(&b, "stratalloc: SA_CONF: empty item (");
      sa_buf_str(&b, p == text ? "leading ','" : end == NULL ? "trailing ','" : "',,'");
      sa_buf_str(&b, ") in '");
      put_text(&b, text, total);
      sa_buf_str(&b, "'; ignored\n");
      sa_buf_flush(&b);
      errors++;
    } else {
      const char *colon = memchr(p, ':', len);
      if (colon == NULL) {
        const char *eq = memchr(p, '=', len);
        const conf_field_t *f = find_field(p, eq ? (size_t)(eq - p) : len);
        report_begin(&b, storage, sizeof storage, p, len);
        sa_buf_str(&b, eq ? "'=' where ':' belongs (want key:value)"
                          : "missing ':' between key and value (want key:value)");
        if (f == NULL) put_keys(&b);
        report_end(&b, config, f);
        errors++;
      } else if (apply_item(config, p, len, (size_t)(colon - p), &seen, first, first_len) != 0) {
        errors++;
      }
    }
    if (end == NULL) break;
    p = end + 1;
  }
  note_interactions(config, seen);
  return errors;
}

int sa_config_check(sa_config_t *config) {
  int errors = 0;
  for (size_t i = 0; i < CONF_COUNT; i++) {
    const conf_field_t *f = &conf_fields[i];
    size_t v = FIELD(config, f);
    if (v >= f->lo && v <= f->hi) continue;
    char storage[512];
    sa_buf_t b;
    sa_buf_init(&b, storage, sizeof storage, 2);
    sa_buf_str(&b, "stratalloc: config: ");
    sa_buf_str(&b, f->name);
    sa_buf_char(&b, ':');
    sa_buf_u64(&b, v);
    sa_buf_str(&b, v < f->lo ? ": below the minimum " : ": above the maximum ");
    if (f->type == CONF_BOOL) sa_buf_u64(&b, v < f->lo ? f->lo : f->hi);
    else put_size(&b, v < f->lo ? f->lo : f->hi);
    sa_buf_str(&b, "; using the default ");
    if (f->type == CONF_BOOL) sa_buf_u64(&b, f->def);
    else put_size(&b, f->def);
    sa_buf_char(&b, '\n');
    sa_buf_flush(&b);
    FIELD(config, f) = f->def;
    errors++;
  }
  return errors;
}
