//! The web console in a real browser: headless Chromium driven over WebDriver
//! (chromedriver's W3C HTTP API, through the api tests' small HTTP client), against the
//! api role, the other roles and a simulated fleet. Screenshots of every page go to a
//! temporary directory, or into docs/console/ with NETRAVEN_UPDATE_SCREENSHOTS=1. The
//! same console over plain HTTP (the api tests' client with a session cookie): the CSRF
//! checks of login and logout, the devices filters and the cancel button.

mod browser;
mod http;
mod webdriver;
