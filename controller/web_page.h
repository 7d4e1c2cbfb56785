// The controller's web page, embedded at build time. It is edited as three files,
// controller/web/page.html, page.css and page.js; controller/web/embed_page.cmake inlines the
// style sheet and the script into the HTML (as <style nonce="{{NONCE}}"> and
// <script nonce="{{NONCE}}">) and compiles the document into this library, so the page is
// served as one response and nothing is loaded from elsewhere (controller/web.h).
//
// The page shows everything from an event with textContent (never by parsing HTML), so an
// image named "<img src=x onerror=...>" is shown as text; its inline style and script run only
// because they carry the response's nonce (the CSP in web.cc).
//
// Thread-safety: constant data.
#ifndef LAYERSEAL_CONTROLLER_WEB_PAGE_H_
#define LAYERSEAL_CONTROLLER_WEB_PAGE_H_

#include <string_view>

namespace layerseal::controller {

// In WebPageTemplate(), where each response's CSP nonce goes (twice: style and script).
// embed_page.cmake writes the same text and refuses page files that contain it.
inline constexpr std::string_view kWebPageNoncePlaceholder = "{{NONCE}}";

// The assembled page with kWebPageNoncePlaceholder in it; static storage.
std::string_view WebPageTemplate();

}  // namespace layerseal::controller

#endif  // LAYERSEAL_CONTROLLER_WEB_PAGE_H_
