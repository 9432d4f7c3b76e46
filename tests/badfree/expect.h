// What a bad-free case's output must hold: the announced pointer, then the
// allocator's report naming exactly that pointer and the strategy, as one
// whole line (common/error.c's table).
#ifndef STRATALLOC_TESTS_BADFREE_EXPECT_H
#define STRATALLOC_TESTS_BADFREE_EXPECT_H

#include <ostream>
#include <string>

#include "tests/badfree/cases.h"

namespace badfree {

// Escapes a literal for an ECMAScript regex.
std::string RegexEscape(const std::string& s);

// The regex a whole report line must match, for the pointer as printed
// ("0x7f...") and the strategy's name.
std::string ReportRegex(bf_expect_t expect, const std::string& ptr, const std::string& strategy);

// True if output holds the announcement line and, after it, a line matching
// ReportRegex for the announced pointer. Else false and *why says what is
// missing (with the regex it looked for).
bool CheckReport(const std::string& output, bf_expect_t expect, const std::string& strategy,
                 std::string* why);

}  // namespace badfree

// GoogleTest prints a case parameter by its name.
inline void PrintTo(const bf_case_t* c, std::ostream* os) { *os << c->name; }

#endif
