//! The web console in a real browser: headless Chromium driven over WebDriver
//! (chromedriver's W3C HTTP API, through the api tests' small HTTP client), against the
//! api role, the other roles and a simulated fleet. Screenshots of every page go to a
//! temporary directory, or into docs/console/ with NETRAVEN_UPDATE_SCREENSHOTS=1.

mod browser;
mod webdriver;
