#pragma once
// Symbols of the shared library are hidden unless marked: only the public
// API (this directory) is exported.
#define ZEMLA_API __attribute__((visibility("default")))
