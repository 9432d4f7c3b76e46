/* SA_CONF parsing: "key:value,key:value". Runs inside the first malloc of a
 * process, so it only uses getenv and its own number parsing. */
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

void sa_config_default(sa_config_t *config) {
  for (size_t i = 0; i < CONF_COUNT; i++)
    *(size_t *)((char *)config + conf_fields[i].offset) = conf_fields[i].def;
}

void sa_config_from_env(sa_config_t *config) {
  sa_config_default(config);
  const char *env = getenv("SA_CONF");
  if (env != NULL && *env != '\0') sa_config_parse(config, env);
}

/* Parses [0-9]+ with an optional k/m/g suffix (binary multiples). */
static int parse_size(const char *s, size_t len, size_t *out) {
  if (len == 0) return -1;
  size_t shift = 0;
  char last = s[len - 1];
  if (last == 'k' || last == 'K') shift = 10;
  if (last == 'm' || last == 'M') shift = 20;
  if (last == 'g' || last == 'G') shift = 30;
  if (shift) len--;
  if (len == 0) return -1;
  size_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    size_t d = (size_t)(s[i] - '0');
    if (v > (SIZE_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  if (shift && v > (SIZE_MAX >> shift)) return -1;
  *out = v << shift;
  return 0;
}

static int parse_bool(const char *s, size_t len, size_t *out) {
  if ((len == 1 && s[0] == '1') || (len == 4 && strncmp(s, "true", 4) == 0)) {
    *out = 1;
    return 0;
  }
  if ((len == 1 && s[0] == '0') || (len == 5 && strncmp(s, "false", 5) == 0)) {
    *out = 0;
    return 0;
  }
  return -1;
}

static void report(const char *why, const char *key, size_t key_len, const char *value,
                   size_t value_len, const conf_field_t *field) {
  char storage[512];
  sa_buf_t b;
  sa_buf_init(&b, storage, sizeof storage, 2);
  sa_buf_str(&b, "stratalloc: SA_CONF: ");
  sa_buf_str(&b, why);
  sa_buf_str(&b, " '");
  for (size_t i = 0; i < key_len && i < 64; i++) sa_buf_char(&b, key[i]);
  if (value) {
    sa_buf_char(&b, ':');
    for (size_t i = 0; i < value_len && i < 64; i++) sa_buf_char(&b, value[i]);
  }
  sa_buf_str(&b, "'");
  if (field) {
    sa_buf_str(&b, " (expected ");
    if (field->type == CONF_BOOL) {
      sa_buf_str(&b, "0/1/true/false");
    } else {
      sa_buf_str(&b, "a size in ");
      sa_buf_u64(&b, field->lo);
      sa_buf_str(&b, "..");
      sa_buf_u64(&b, field->hi);
      sa_buf_str(&b, ", suffix k/m/g allowed");
    }
    sa_buf_str(&b, "); keeping the default ");
    sa_buf_u64(&b, field->def);
  } else {
    sa_buf_str(&b, "; valid keys:");
    for (size_t i = 0; i < CONF_COUNT; i++) {
      sa_buf_char(&b, ' ');
      sa_buf_str(&b, conf_fields[i].name);
    }
  }
  sa_buf_char(&b, '\n');
  sa_buf_flush(&b);
}

static int set_field(sa_config_t *config, const char *key, size_t key_len, const char *value,
                     size_t value_len) {
  for (size_t i = 0; i < CONF_COUNT; i++) {
    const conf_field_t *f = &conf_fields[i];
    if (strlen(f->name) != key_len || strncmp(f->name, key, key_len) != 0) continue;
    size_t v;
    int bad = f->type == CONF_BOOL ? parse_bool(value, value_len, &v)
                                   : parse_size(value, value_len, &v);
    if (bad || v < f->lo || v > f->hi) {
      report("bad value", key, key_len, value, value_len, f);
      return -1;
    }
    *(size_t *)((char *)config + f->offset) = v;
    return 0;
  }
  report("unknown key", key, key_len, value, value_len, NULL);
  return -1;
}

int sa_config_set(sa_config_t *config, const char *key, const char *value) {
  return set_field(config, key, strlen(key), value, strlen(value));
}

int sa_config_parse(sa_config_t *config, const char *text) {
  int errors = 0;
  const char *p = text;
  while (p && *p) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > 0) {
      const char *colon = memchr(p, ':', len);
      if (colon == NULL) {
        report("missing ':' in", p, len, NULL, 0, NULL);
        errors++;
      } else if (set_field(config, p, (size_t)(colon - p), colon + 1,
                           len - (size_t)(colon - p) - 1) != 0) {
        errors++;
      }
    }
    p = end ? end + 1 : NULL;
  }
  return errors;
}
